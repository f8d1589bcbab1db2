"""The assistant as the tests ask it: each question in its own tool session on one context,
as a caller with the role the test names (the same path the API and the UI take)."""

from __future__ import annotations

from collections.abc import Sequence

from assistant import Answer, Assistant, ConversationState
from sara.settings import Settings
from tools.context import ToolContext
from tools.session import Caller, Observer, ToolSession


def caller_with_role(role: str) -> Caller:
    return Caller(f"id-{role}", f"test-{role}", role)  # type: ignore[arg-type]


class Asker:
    def __init__(self, settings: Settings, ctx: ToolContext):
        self.assistant, self.ctx = Assistant(settings), ctx

    def session(self, role: str = "staff", observers: Sequence[Observer] = ()) -> ToolSession:
        return ToolSession(lambda: self.ctx, caller_with_role(role), observers, via="assistant")

    def ask(
        self,
        question: str,
        state: ConversationState | None = None,
        *,
        role: str = "staff",
        session: ToolSession | None = None,
        backend: str | None = None,
    ) -> Answer:
        return self.assistant.ask(question, state, session or self.session(role), backend=backend)
