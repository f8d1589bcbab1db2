"""The assistant over HTTP: one question in, one answer out (with its tool calls, chart,
follow-ups and the conversation state to send back with the next question)."""

from __future__ import annotations

import time

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.deps import RuntimeDep, Staff
from api.errors import ApiError, documented
from api.runtime import Runtime
from assistant import Answer, ConversationState
from assistant.core import MAX_QUESTION_CHARS, example_questions
from monitoring import metrics
from tools.errors import ToolError
from tools.session import Caller, ToolSession

UI_ROUTE = "/ui"  # the audit log's and metrics' name for questions asked in the chat UI
router = APIRouter(prefix="/v1", tags=["assistant"], responses=documented(401, 403, 422, 503))


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(
        min_length=1,
        max_length=MAX_QUESTION_CHARS,
        examples=["Why is <student id> high risk and what would help?"],
    )
    conversation: ConversationState | None = Field(
        default=None, description="The `state` of the previous answer, for follow-up questions."
    )


def answer_for(runtime: Runtime, session: ToolSession, question: str,
               state: ConversationState | None) -> Answer:  # fmt: skip
    """Ask the assistant in this session: its tools run with the caller's role, observed
    (audited, counted) like direct calls and counted as the assistant's. The one path for the
    API and the UI."""
    started = time.perf_counter()
    answer = runtime.assistant.ask(question, state, session.via_surface("assistant"))
    metrics.observe_chat(answer, time.perf_counter() - started)
    return answer


@router.post("/chat", response_model=Answer)
async def chat(request: ChatRequest, session: Staff, runtime: RuntimeDep) -> Answer:
    """Ask SARA in plain language. Send back `state` from the answer as `conversation` to ask a
    follow-up ("and what would help her?")."""
    return await run_in_threadpool(
        answer_for, runtime, session, request.question, request.conversation
    )


class ChatService:
    """What the chat UI calls: sign in with an API key, then ask as that key's caller.
    The UI holds no logic: every answer comes from ``answer_for``."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    def _caller(self, key: str) -> Caller | None:
        """The key's caller when it is valid with at least the staff role, else None."""
        caller = self.runtime.keys.authenticate((key or "").strip())
        return caller if caller is not None and caller.can("staff") else None

    def sign_in(self, key: str) -> tuple[str, str] | None:
        """(key name, role) for a valid key with at least the staff role, else None."""
        caller = self._caller(key)
        return (caller.name, caller.role) if caller else None

    def examples(self, key: str) -> list[str]:
        """Example questions in the served dataset's words (none when nothing is served)."""
        caller = self._caller(key)
        if caller is None:
            return []
        try:
            return example_questions(self.runtime.session(caller, UI_ROUTE))
        except ToolError:
            return []

    def ask(self, key: str, question: str, state: ConversationState | None) -> Answer:
        caller = self._caller(key)
        if caller is None:
            raise ApiError(401, "sign in with a valid API key (staff role or higher)")
        return answer_for(self.runtime, self.runtime.session(caller, UI_ROUTE), question, state)
