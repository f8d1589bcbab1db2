"""The assistant: one ``ask`` in front of two backends, with the rules both must keep.

Before a backend sees a question, it is read as it looks (lookalike letters, invisible
characters), embedded instructions are cut out and requests SARA never serves are refused
(``assistant.guard``); the conversation state the client sends back is checked like any other
input (``assistant.scope``). After a backend answers, the grounding guard checks every number
and every student id against this turn's tool outputs; an answer that fails is replaced by the
template answer written from the same tool calls."""

from __future__ import annotations

import logging
import time

from assistant import guard
from assistant.examples import Examples
from assistant.grounding import ungrounded_ids, ungrounded_numbers
from assistant.lexicon import Lexicon, build_lexicon, switches_of
from assistant.offline import OfflineBackend
from assistant.render import render_calls
from assistant.scope import MAX_QUESTION_CHARS, check_conversation
from assistant.types import Answer, ConversationState
from sara.settings import Settings
from tools.context import ToolContext
from tools.errors import InvalidInput
from tools.session import ToolSession

log = logging.getLogger(__name__)
__all__ = ["MAX_QUESTION_CHARS", "Assistant", "check_question", "lexicon_of"]


def lexicon_of(ctx: ToolContext) -> Lexicon:
    """The parser's vocabulary for the spec and catalogue in service (built once per context)."""

    def build(ctx: ToolContext) -> Lexicon:
        prefix = ctx.spec.id_prefix
        sample = (
            ctx.connection()
            .execute(
                "SELECT student_id FROM scores WHERE starts_with(student_id, ?) LIMIT 1", [prefix]
            )
            .fetchone()
        )
        width = len(sample[0]) - len(prefix) if sample else 7
        catalogue = ctx.catalogue.interventions if ctx.catalogue else ()
        names = {iv.name: iv.title for iv in catalogue}
        # The first id in id order: an example, saying nothing about any student's risk.
        first = ctx.connection().execute("SELECT min(student_id) FROM scores").fetchone()
        return build_lexicon(
            ctx.spec,
            names,
            width,
            lambda ids: known_ids(ctx, ids),
            first[0] if first else None,
            tuple(ctx.model.features),
            {iv.name: iv.cost_per_student for iv in catalogue},
            switches_of(ctx.spec, catalogue),
        )

    return ctx.cached("assistant.lexicon", build)


def known_ids(ctx: ToolContext, candidates: list[str]) -> set[str]:
    """Which of ``candidates`` are student ids in the warehouse (one parameterised query)."""
    if not candidates:
        return set()
    rows = (
        ctx.connection()
        .execute(
            "SELECT student_id FROM scores WHERE student_id IN (SELECT unnest(?))", [candidates]
        )
        .fetchall()
    )
    return {row[0] for row in rows}


def check_question(question: object) -> str:
    if not isinstance(question, str) or not question.strip():
        raise InvalidInput(
            "question: ask something, e.g. 'Who are the highest-risk students?'",
            field="question",
            value=question,
        )
    if len(question) > MAX_QUESTION_CHARS:
        raise InvalidInput(
            f"question: {len(question)} characters is more than {MAX_QUESTION_CHARS}",
            field="question",
            value=question[:80] + "…",
        )
    return guard.plain_text(question)


def example_questions(session: ToolSession) -> list[str]:
    """Questions to offer a user of ``session``, in the served dataset's own words."""
    lexicon = lexicon_of(session.context)
    return Examples.of(lexicon, lexicon.example_student).questions()


class Assistant:
    """Answers questions with the tools of a ``ToolSession``: the session's caller and role
    decide what may run, its context (taken once per turn) what the numbers come from, and its
    observers see every call (audit, metrics), whichever surface asked."""

    def __init__(self, settings: Settings):
        self.settings = settings

    def ask(
        self,
        question: str,
        conversation: ConversationState | None,
        session: ToolSession,
        *,
        backend: str | None = None,
    ) -> Answer:
        started = time.perf_counter()
        question = check_question(question)
        lexicon = lexicon_of(session.context)
        state = check_conversation(conversation or ConversationState(), lexicon)
        offline = OfflineBackend(lexicon)
        cleaned, injected, demand = guard.strip_injection(question)
        refusal = (
            guard.check_request(cleaned.lower(), lexicon.column_patterns)
            or (demand if not cleaned else None)
            or (
                guard.Refusal(
                    "injection",
                    "Instructions inside a question change nothing; ask me "
                    "about student risk and I'll answer from the data.",
                )
                if injected and not cleaned
                else None
            )
        )
        if refusal:
            answer = Answer(
                text=refusal.message,
                outcome="refused",
                intents=[refusal.kind],
                state=state.model_copy(update={"turns": state.turns + 1}),
            )
        elif (backend or self.settings.assistant_backend) == "llm":
            from assistant.llm import LlmBackend

            answer = LlmBackend(self.settings, offline).answer(cleaned, state, session)
        else:
            answer = offline.answer(cleaned, state, session)
        answer = self._grounded(answer, offline.lexicon)
        log.info(
            "chat answered",
            extra={
                "backend": answer.backend,
                "outcome": answer.outcome,
                "intents": answer.intents,
                "injected": injected,
                "ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        return answer

    @staticmethod
    def _grounded(answer: Answer, lexicon: Lexicon) -> Answer:
        if answer.outcome != "answered" or not answer.tool_calls:
            return answer
        missing = ungrounded_numbers(answer.text, answer.tool_calls)
        strangers = ungrounded_ids(answer.text, answer.tool_calls, lexicon.spec.id_prefix)
        if not missing and not strangers:
            return answer
        # Counts only: the numbers and ids themselves are student data, kept out of logs.
        log.warning(
            "ungrounded answer replaced",
            extra={"numbers": len(missing), "ids": len(strangers), "backend": answer.backend},
        )
        text = render_calls(answer.tool_calls, lexicon)
        return answer.model_copy(update={"text": text, "grounding_replaced": True})
