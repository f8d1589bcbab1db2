"""Example questions, clarifying questions and follow-up suggestions in the served dataset's
own words: its columns, values, interventions and a real student id, never another schema's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from assistant.lexicon import Lexicon
from data.spec import ColumnSpec, Role
from tools.cohort import FILTERABLE

if TYPE_CHECKING:
    from assistant.planner import Plan
    from assistant.types import ToolCall


@dataclass(frozen=True)
class Examples:
    """What the served dataset offers to put in an example."""

    student: str | None  # a student id from the warehouse
    groups: list[str]  # column labels to compare on, equity columns first
    protected: list[str]  # labels of the protected columns
    place: str | None  # a category value in words, e.g. "rural" (a filter)
    place_column: str | None
    interventions: list[str]  # titles, from the catalogue
    actionable: list[str]  # labels of the actionable columns

    @classmethod
    def of(cls, lexicon: Lexicon, student: str | None) -> Examples:
        spec = lexicon.spec
        filterable = [c for c in spec.columns if c.role in FILTERABLE]
        equity = [c for c in filterable if c.equity]
        ordered = equity + [c for c in filterable if c not in equity and c.role != Role.PROTECTED]
        groups = [lexicon.label(c.name) for c in ordered if _groupable(c)]
        place = next((c for c in ordered if c.dtype == "category" and c.categories), None)
        return cls(
            student=student,
            groups=groups,
            protected=[lexicon.label(c) for c in spec.protected],
            place=_value_words(place, place.categories[-1]) if place else None,
            place_column=lexicon.label(place.name) if place else None,
            interventions=[t.lower() for t in lexicon.interventions.values()],
            # Suggested what-ifs only for what the model reads: another change moves nothing.
            actionable=[
                lexicon.label(c)
                for c in spec.actionable
                if not lexicon.model_inputs or c in lexicon.model_inputs
            ],
        )

    def questions(self) -> list[str]:
        """A few questions to offer as buttons, in this dataset's words."""
        where = f" with {self.place_column} {self.place}" if self.place else ""
        out = [f"Who are the highest-risk students{where}?"]
        out += [f"How does the outcome differ by {g}?" for g in self.groups[:1]]
        out += self._compare_both()
        out += ["Summarise equity for all students", "What model is this and how good is it?"]
        return out

    def capabilities(self) -> str:
        lines = ["I'm SARA. Ask me, for example:"]
        if self.student:
            help_too = ", and what would help?" if self.interventions else "?"
            lines.append(f"- Why is {self.student} high risk{help_too}")
        where = f" with {self.place_column} {self.place}" if self.place else ""
        lines.append(f"- Who are the highest-risk students{where}?")
        if self.groups:
            lines.append(f"- How does the outcome differ by {' and '.join(self.groups[:2])}?")
        if self.protected:
            lines.append(f"- How fair is the model across {self.protected[0]}?")
        if self.interventions:
            lines += [f"- {q}." for q in self._compare_both()]
            lines.append("- Plan interventions for the high-risk students within our budget.")
        lines.append("- Summarise equity for all students. What model is this and how good is it?")
        return "\n".join(lines)

    def clarify(self, missing: str) -> str:
        if missing == "student":
            example = f", for example {self.student}" if self.student else ""
            return f"Which student do you mean? Give the student's id{example}."
        if missing == "budget":
            return "What budget should the plan work within (USD per year)? For example $50,000."
        if missing == "attribute":
            options = [*self.groups[:5], *self.protected[:2]]
            named = f" For example by {', '.join(options)}." if options else ""
            return f"Compared across which groups?{named}"
        where = (
            f"the high-risk students with {self.place_column} {self.place}"
            if self.place
            else "the high-risk students"
        )
        return (
            f"For which students? Give a student id, a group (for example {where}) or say all "
            "students."
        )

    def follow_ups(self, plan: Plan, calls: list[ToolCall]) -> list[str]:
        """Next questions that make sense after this answer (at most three)."""
        student = plan.student_ids[0] if plan.student_ids else None
        helps = bool(self.interventions)
        out: list[str] = []
        for intent in plan.intents:
            if intent in ("explain", "score") and student and "help_student" not in plan.intents:
                out += [f"What would help {student}?"] if helps else []
                out += [f"What about {student}'s {a}?" for a in self.actionable[:1]]
            elif intent == "help_student" and student:
                out += [f"What about {student}'s {a}?" for a in self.actionable[1:2]]
                out += self._compare_both()
            elif intent == "find":
                listed = next((c.output for c in calls if c.name == "find_students"), None)
                if listed and listed.students:
                    out.append(f"Why is {listed.students[0].student_id} high risk?")
                out += ["What would help them?"] if helps else []
                out += [f"How does risk differ by {g}?" for g in self.groups[:1]]
            elif intent in ("equity", "fairness"):
                if self.place:
                    out.append(f"Only for students with {self.place_column} {self.place}?")
                out += [f"How fair is the model across {p}?" for p in self.protected[:1]]
                out.append("Summarise equity for all students")
            elif intent == "compare":
                asked = calls[-1].arguments.get("interventions") if calls else None
                other = next((n for n in self.interventions if asked and n not in asked), None)
                if other:
                    out.append(f"And for {other}?")
                out.append("Plan interventions for them with a budget of $50k")
            elif intent == "plan":
                out += ["What if the budget were $100k?", "Compare the interventions for them"]
            elif intent == "summary" and self.protected:
                out.append(f"How does the outcome differ by {' and '.join(self.protected[:2])}?")
            elif intent == "model":
                out += [f"How fair is the model across {p}?" for p in self.protected[-1:]]
                out.append("Who are the highest-risk students?")
        if not out:
            out = ["What can you do?", "Who are the highest-risk students?"]
        return list(dict.fromkeys(out))[:3]

    def _compare_both(self) -> list[str]:
        if len(self.interventions) < 2:
            return []
        first, second = self.interventions[:2]
        return [f"Compare {first} and {second} for the high-risk students"]


def _groupable(column: ColumnSpec) -> bool:
    return column.dtype in ("category", "bool") or (
        column.dtype == "int"
        and column.min is not None
        and column.max is not None
        and column.max - column.min <= 12
    )


def _value_words(column: ColumnSpec, value: str) -> str:
    return column.value_labels.get(value, value)
