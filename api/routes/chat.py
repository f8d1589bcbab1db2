"""The assistant over HTTP: one question in, one answer out (with its tool calls, chart,
follow-ups and the conversation state to send back with the next question)."""

from __future__ import annotations

import time

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api import metrics
from api.deps import Caller, Staff
from api.errors import ApiError, documented
from api.runtime import Runtime
from assistant import Answer, ConversationState
from assistant.core import MAX_QUESTION_CHARS

router = APIRouter(prefix="/v1", tags=["assistant"], responses=documented(401, 403, 422, 503))


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(
        min_length=1,
        max_length=MAX_QUESTION_CHARS,
        examples=["Why is S0000042 high risk and what would help?"],
    )
    conversation: ConversationState | None = Field(
        default=None, description="The `state` of the previous answer, for follow-up questions."
    )


def answer_for(caller: Caller, question: str, state: ConversationState | None) -> Answer:
    """Ask the assistant as this caller: tools run with the caller's role, audited and counted
    like direct calls. The one path for the API and the UI."""
    started = time.perf_counter()
    chat_caller = Caller(caller.principal, caller.runtime, caller.route, via="assistant")
    answer = caller.runtime.assistant.ask(
        question, state, role=caller.principal.role, execute=chat_caller.run
    )
    metrics.observe_chat(answer, time.perf_counter() - started)
    return answer


@router.post("/chat", response_model=Answer)
async def chat(request: ChatRequest, caller: Staff) -> Answer:
    """Ask SARA in plain language. Send back `state` from the answer as `conversation` to ask a
    follow-up ("and what would help her?")."""
    return await run_in_threadpool(answer_for, caller, request.question, request.conversation)


class ChatService:
    """What the chat UI calls: sign in with an API key, then ask as that key's principal.
    The UI holds no logic: every answer comes from ``answer_for``."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    def _principal(self, key: str):
        """The key's principal when it is valid with at least the staff role, else None."""
        principal = self.runtime.keys.authenticate((key or "").strip())
        return principal if principal is not None and principal.can("staff") else None

    def sign_in(self, key: str) -> tuple[str, str] | None:
        """(key name, role) for a valid key with at least the staff role, else None."""
        principal = self._principal(key)
        return (principal.name, principal.role) if principal else None

    def ask(self, key: str, question: str, state: ConversationState | None) -> Answer:
        principal = self._principal(key)
        if principal is None:
            raise ApiError(401, "sign in with a valid API key (staff role or higher)")
        return answer_for(Caller(principal, self.runtime, "/ui"), question, state)
