"""What one turn may touch.

The conversation state comes back from the client with each question, so it is checked like
any other input before it reaches a backend or the LLM's prompt: ids must look like ids,
filters and interventions must be the spec's and the catalogue's, and a pending question must
be one SARA would have asked. The students a question is about bound which students the LLM's
tool calls may name or list: a model that follows an instruction it read somewhere cannot pull
in other students' records."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from assistant import guard
from assistant.lexicon import Lexicon
from assistant.parser import Parse
from assistant.types import ConversationState, ToolCall
from tools.cohort import validate_filters
from tools.errors import InvalidInput

MAX_QUESTION_CHARS = 2000
ID_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:#-]{0,127}")
ID_RULE = "is not a student id (letters, digits, '_', '.', ':', '#' or '-'; at most 128)"
METRIC_NAME = re.compile(r"[A-Za-z_]{1,40}(?::[A-Za-z0-9_]{1,64})?")
# Tools whose output lists students the question did not name.
LISTING_TOOLS = frozenset({"find_students", "plan_interventions", "run_sql"})
# Intents that are about the named students only.
STUDENT_INTENTS = frozenset({"explain", "score", "help", "help_student"})


def _invalid(name: str, value: Any, rule: str) -> InvalidInput:
    return InvalidInput(f"{name}: {value!r} {rule}", field=name, value=value)


def check_conversation(state: ConversationState, lexicon: Lexicon) -> ConversationState:
    """``state`` when every value in it is one SARA could have put there, else InvalidInput
    naming the field (``conversation.student_id``…), the value and the rule."""
    spec = lexicon.spec
    ids = [("student_id", state.student_id)]
    ids += [(f"listed.{i}", sid) for i, sid in enumerate(state.listed or [])]
    for name, sid in ids:
        if sid is not None and not ID_TOKEN.fullmatch(sid):
            raise _invalid(f"conversation.{name}", sid, ID_RULE)
    try:
        validate_filters(spec, state.filters)
    except InvalidInput as exc:
        raise InvalidInput(
            f"conversation.{exc.message}", field=f"conversation.{exc.field}", value=exc.value
        ) from None
    for i, name in enumerate(state.interventions or []):
        if name not in lexicon.interventions:
            rule = f"is not one of {', '.join(lexicon.interventions)}"
            raise _invalid(f"conversation.interventions.{i}", name, rule)
    for i, column in enumerate(state.group_by or []):
        if column not in spec.column_names:
            raise _invalid(f"conversation.group_by.{i}", column, "is not a column of the spec")
    if state.metric is not None and not METRIC_NAME.fullmatch(state.metric):
        raise _invalid("conversation.metric", state.metric, "is not a metric name")
    if state.pending is not None:
        _check_pending(state.pending.question, lexicon)
    return state


def _check_pending(question: str, lexicon: Lexicon) -> None:
    name = "conversation.pending.question"
    if len(question) > MAX_QUESTION_CHARS:
        rule = f"is {len(question)} characters, more than {MAX_QUESTION_CHARS}"
        raise _invalid(name, question[:80] + "…", rule)
    cleaned, injected, demand = guard.strip_injection(guard.plain_text(question))
    if injected or demand or guard.check_request(cleaned.lower(), lexicon.column_patterns):
        rule = (
            "carries an instruction or a request SARA refuses; send back the state of "
            "SARA's last answer unchanged"
        )
        raise _invalid(name, question[:200], rule)


def _record_ids(name: str, args: dict[str, Any], id_column: str) -> list[tuple[str, Any]]:
    """(field, id) of each raw record's own id in a call's arguments."""
    if not id_column:
        return []
    if name == "explain_student" and isinstance(args.get("record"), dict):
        return [(f"record.{id_column}", args["record"].get(id_column))]
    records = args.get("records") if name == "score_students" else None
    if not isinstance(records, list):
        return []
    return [
        (f"records.{i}.{id_column}", r.get(id_column))
        for i, r in enumerate(records)
        if isinstance(r, dict)
    ]


def _named(args: dict[str, Any]) -> list[str]:
    """The warehouse students a call's arguments name."""
    named = [args["student_id"]] if isinstance(args.get("student_id"), str) else []
    listed = args.get("student_ids")
    return named + ([s for s in listed if isinstance(s, str)] if isinstance(listed, list) else [])


@dataclass
class TurnScope:
    """The students one question is about, and whether it is about those students only."""

    students: set[str] = field(default_factory=set)
    pinned: bool = False

    @classmethod
    def of(cls, parsed: Parse, intents: list[str], state: ConversationState) -> TurnScope:
        students = set(parsed.student_ids)
        if parsed.student_ref and state.student_id:
            students.add(state.student_id)
        if parsed.cohort_ref and state.listed:
            students.update(state.listed)
        asked = set(intents) or set(parsed.intents)
        pinned = bool(students) and asked <= STUDENT_INTENTS
        return cls(students=students, pinned=pinned)

    def problem(
        self, name: str, args: dict[str, Any], calls: list[ToolCall], id_column: str | None
    ) -> str | None:
        """Why this call reaches outside the question, or None."""
        for where, sid in _record_ids(name, args, id_column):
            if sid is not None and not (isinstance(sid, str) and ID_TOKEN.fullmatch(sid)):
                return f"{where}: {str(sid)[:80]!r} {ID_RULE}"
        for sid in _named(args):
            returned = (c.output_json() for c in calls if c.output is not None)
            if sid not in self.students and not any(f'"{sid}"' in out for out in returned):
                return (
                    f"student {sid!r} is neither named in the question nor returned by a tool "
                    "this turn; only students the question asks about can be looked up"
                )
        cohort = name == "compare_interventions" and not args.get("student_ids")
        if self.pinned and (name in LISTING_TOOLS or cohort):
            about = ", ".join(sorted(self.students))
            return (
                f"this question is about {about} only; {name} would show other students, "
                "which the question did not ask for"
            )
        return None
