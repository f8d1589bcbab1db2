"""From what the parser read (and the conversation so far) to tool calls, a clarifying question
or a refusal. This is where follow-ups are resolved and missing details are asked for."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from assistant import guard
from assistant.lexicon import Lexicon
from assistant.parser import Parse
from assistant.types import ConversationState, Pending

STUDENT_INTENTS = ("explain", "score", "help_student")
FOLLOW_MARKERS = re.compile(
    r"^(?:and|ok and|so|what about|how about|only|just|now|same)\b|"
    r"\b(?:too|as well|instead|further|(?:split|break) (?:that|it|this))\b"
)
GROUP_INTENTS = ("find", "equity", "fairness", "compare", "plan", "summary")
DEFAULT_METRICS = ["mean_risk", "outcome_rate"]
CLARIFY = {
    "student": "Which student do you mean? Give the student's id, for example S0000042.",
    "budget": "What budget should the plan work within (USD per year)? For example $50,000.",
    "attribute": (
        "Compared across which groups? For example by SES quartile, race/ethnicity, gender, "
        "locale, school type, grade or internet access."
    ),
    "scope": (
        "For which students? Give a student id, a group (for example the high-risk students in "
        "rural schools) or say all students."
    ),
}


@dataclass
class Step:
    tool: str
    arguments: dict[str, Any]
    intent: str


@dataclass
class Plan:
    intents: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    clarify: Pending | None = None
    refusal: guard.Refusal | None = None
    focus: list[str] = field(default_factory=list)
    student_ids: list[str] = field(default_factory=list)
    filters: dict[str, list[Any]] = field(default_factory=dict)
    note: str | None = None


def _intents(parsed: Parse, students: list[str], cohort: bool) -> list[str]:
    cues = parsed.intents
    out: list[str] = []
    if "capabilities" in cues and not parsed.has_slots and len(cues) == 1:
        return ["capabilities"]
    if "plan" in cues or parsed.budget:
        out.append("plan")
    if "fairness" in cues or {"tpr", "fpr"} & set(parsed.metrics):
        out.append("fairness")
    if students or parsed.student_ref:
        if "explain" in cues or ("score" not in cues and "help" not in cues and not out):
            out.append("explain")
        elif "score" in cues:
            out.append("score")
        if "help" in cues or (parsed.interventions and "plan" not in out):
            out.append("help_student")
        if "find" in cues and parsed.filters:
            out.append("find")  # "score S1 and S2, then the 5 riskiest in town schools"
        return out
    about_interventions = re.search(
        r"\b(?:interventions?|programs?|programmes?|options?|supports?)\b", parsed.text
    )
    wants_compare = (
        parsed.interventions or "help" in cues or ("compare" in cues and about_interventions)
    )
    if wants_compare and "plan" not in out:
        out.append("compare")
    groups = parsed.group_by or [c for c in parsed.mentioned_columns if c not in parsed.filters]
    compares_groups = "compare" in cues and not wants_compare and (groups or parsed.filters)
    numeric_mentions = [c for c in parsed.mentioned_columns if c in parsed.numeric_columns]
    if "summary" in cues and not ("equity" in cues and groups):
        out.append("summary")
    elif (
        ("equity" in cues or "explain" in cues or compares_groups
         or ((parsed.metrics or numeric_mentions) and parsed.group_by))
        and ("fairness" not in out or "outcome_rate" in parsed.metrics)
        and (groups or (parsed.filters and not ({"find"} & cues)) or "equity" in cues)
        and not (parsed.interventions and not parsed.group_by)
    ):  # fmt: skip
        out.append("equity")
    if (
        "find" in cues
        and "plan" not in out
        and "compare" not in out
        and not ("equity" in out and parsed.group_by)
    ):
        if "equity" in out and parsed.counts and not parsed.group_by:
            out.remove("equity")  # "how many high-risk students in grade 9": a count, not a gap
        out.append("find")
    strong_model = re.search(r"\baccura\w*|\bauc\b|\bhow good\b|\bversion\b", parsed.text)
    if "model" in cues and (not out or (strong_model and "fairness" in out)):
        out.append("model")
    if not out and "score" in cues and cohort:
        out.append("equity")
    return out


class Planner:
    def __init__(self, lexicon: Lexicon):
        self.lexicon = lexicon

    def plan(self, parsed: Parse, state: ConversationState) -> Plan:
        about_last_student = parsed.student_ref or (
            parsed.cohort_ref  # "what would help them?" right after one student
            and not state.listed
            and bool(set(state.intents) & set(STUDENT_INTENTS))
        )
        students = parsed.student_ids or (
            [state.student_id] if about_last_student and state.student_id else []
        )
        if (
            not students
            and not parsed.has_slots
            and state.student_id
            and parsed.intents
            and parsed.intents <= {"explain", "score", "help"}
        ):
            students = [state.student_id]  # "why?" right after a student's score
        intents = _intents(parsed, students, bool(parsed.filters))
        family = {"equity": "groups", "fairness": "groups"}
        marked = FOLLOW_MARKERS.search(parsed.text) and (
            {family.get(i, i) for i in intents} <= {family.get(i, i) for i in state.intents}
            or not parsed.intents - {"compare"}
        )
        follow_up = bool(
            (not parsed.intents or marked)
            and state.intents
            and (parsed.has_slots or parsed.student_ref or parsed.cohort_ref)
            and not (parsed.student_ids and not set(state.intents) & set(STUDENT_INTENTS))
        )
        if follow_up and "plan" in intents and parsed.budget:
            pass  # "what could we do for that group with $30k?" is a plan for the last cohort
        elif follow_up:
            intents = list(state.intents)
            if not students and state.student_id and any(i in STUDENT_INTENTS for i in intents):
                students = [state.student_id]
        if not intents and (students or (parsed.student_ref and state.student_id)):
            intents = ["explain"]
        plan = Plan(intents=intents, student_ids=students)
        plan.filters = self._cohort(parsed, state, follow_up)
        if parsed.mentioned_columns and students:
            plan.focus = [
                c for c in parsed.mentioned_columns if c in self.lexicon.spec.column_names
            ]
        self._guard(parsed, plan)
        if plan.refusal or not intents or intents == ["capabilities"]:
            return plan
        self._steps(parsed, state, plan, follow_up)
        return plan

    def _cohort(self, parsed: Parse, state: ConversationState, follow_up: bool) -> dict:
        filters = {k: list(v) for k, v in parsed.filters.items() if k not in parsed.group_by}
        if (follow_up or parsed.cohort_ref) and state.filters:
            merged = {k: (v if isinstance(v, list) else [v]) for k, v in state.filters.items()}
            merged.update(filters)
            return merged
        return filters

    def _guard(self, parsed: Parse, plan: Plan) -> None:
        for term in self.lexicon.excluded_terms:
            if term.pattern.search(parsed.text):
                label = self.lexicon.label(term.column)
                plan.refusal = guard.Refusal(
                    "protected",
                    f"SARA does not use or show '{label}': the data contract excludes it, so "
                    "it is neither a model input nor something to look students up by.",
                )
                return
        protected = self.lexicon.protected
        lists_students = any(i in ("find", "plan") for i in plan.intents) or (
            "find" in parsed.intents and any(c in protected for c in plan.filters)
        )
        labels = {c: self.lexicon.label(c) for c in protected}
        plan.refusal = guard.check_targeting(
            parsed.text,
            [c for c in plan.filters if c in protected],
            [c for c in parsed.group_by if c in protected],
            lists_students,
            labels,
        )

    def _scope(
        self, parsed: Parse, plan: Plan, state: ConversationState, follow_up: bool = False
    ) -> dict | None:
        if plan.student_ids:
            return {"student_ids": plan.student_ids}
        if (parsed.cohort_ref or follow_up) and state.listed and not parsed.filters:
            return {"student_ids": state.listed}
        if plan.filters:
            return {"filters": plan.filters}
        if parsed.all_students:
            return {"all_students": True}
        if state.filters and (parsed.cohort_ref or not parsed.has_slots):
            return {"filters": state.filters}
        return None

    def _need(self, plan: Plan, missing: str, question: str) -> None:
        plan.clarify = Pending(question=question, missing=missing)  # type: ignore[arg-type]
        plan.steps = []

    def _steps(self, parsed: Parse, state: ConversationState, plan: Plan, follow_up: bool) -> None:
        interventions = parsed.interventions or (state.interventions if follow_up else None) or None
        for intent in plan.intents:
            if intent in STUDENT_INTENTS and not plan.student_ids:
                return self._need(plan, "student", parsed.text)
            if intent == "explain":
                plan.steps += [
                    Step("explain_student", {"student_id": s}, intent) for s in plan.student_ids[:3]
                ]
            elif intent == "score":
                plan.steps.append(Step("score_students", {"student_ids": plan.student_ids}, intent))
            elif intent == "help_student":
                if "explain" not in plan.intents:
                    plan.steps += [
                        Step("explain_student", {"student_id": s}, intent)
                        for s in plan.student_ids[:3]
                    ]
                args: dict[str, Any] = {"student_ids": plan.student_ids}
                if interventions:
                    args["interventions"] = interventions
                plan.steps.append(Step("compare_interventions", args, intent))
            elif intent == "compare":
                scope = self._scope(parsed, plan, state, follow_up)
                if scope is None:
                    return self._need(plan, "scope", parsed.text)
                plan.steps.append(
                    Step(
                        "compare_interventions",
                        {**scope, **({"interventions": interventions} if interventions else {})},
                        intent,
                    )
                )
            elif intent == "plan":
                budget = parsed.budget or (state.budget if follow_up else None)
                if not budget:
                    return self._need(plan, "budget", parsed.text)
                args = {"budget": budget}
                scope = self._scope(parsed, plan, state, follow_up)
                if scope:
                    args.update(scope)
                if interventions:
                    args["interventions"] = interventions
                if parsed.capacity:
                    args["capacity"] = parsed.capacity
                if parsed.objective:
                    args["objective"] = parsed.objective
                plan.steps.append(Step("plan_interventions", args, intent))
            elif intent == "find":
                args = {"filters": plan.filters, "limit": parsed.limit or 10}
                plan.steps.append(Step("find_students", args, intent))
            elif intent in ("equity", "fairness"):
                if not self._equity(parsed, state, plan, intent, follow_up):
                    return None
            elif intent == "summary":
                args = {"filters": plan.filters}
                if parsed.group_by:
                    args["attributes"] = parsed.group_by
                plan.steps.append(Step("equity_summary", args, intent))
            elif intent == "model":
                plan.steps.append(Step("model_info", {}, intent))
        return None

    def _equity(
        self, parsed: Parse, state: ConversationState, plan: Plan, intent: str, follow_up: bool
    ) -> bool:
        spec = self.lexicon.spec
        groups = list(parsed.group_by)
        adds = re.search(r"\b(?:too|as well|also|further)\b", parsed.text)
        if follow_up and state.group_by and adds:
            groups = list(dict.fromkeys([*state.group_by, *groups]))[:2]
        if not groups:
            groups = [
                c
                for c in parsed.mentioned_columns
                if c not in plan.filters and spec.column(c).dtype != "float"
            ][:2]
        if not groups and follow_up and state.group_by:
            groups = list(state.group_by)
        if not groups:
            protected = self.lexicon.protected
            movable = sorted(
                (c for c in plan.filters if c != "risk_level"),
                key=lambda c: intent == "fairness" and c not in protected,
            )
            groups = movable[:1] if intent == "fairness" else movable[:2]
        filters = {k: v for k, v in plan.filters.items() if k not in groups}
        if "share_high" in parsed.metrics and filters.get("risk_level") == ["High"]:
            filters.pop("risk_level")  # "share at High risk" is the metric, not a filter
        if intent == "fairness":
            if not groups:
                plan.steps.append(Step("model_info", {}, intent))
                return True
            metrics = ["tpr", "fpr"]
        else:
            if not groups:
                self._need(plan, "attribute", parsed.text)
                return False
            numeric = [
                f"mean:{c}"
                for c in parsed.mentioned_columns
                if spec.column(c).dtype == "float" and c not in groups
            ]
            named = [m for m in parsed.metrics if m in ("share_high", "outcome_rate", "mean_risk")]
            metrics = (
                numeric
                or named
                or ([state.metric] if follow_up and state.metric else DEFAULT_METRICS)
            )
        for metric in metrics[:3]:
            plan.steps.append(
                Step(
                    "query_equity",
                    {"metric": metric, "group_by": groups, "filters": filters},
                    intent,
                )
            )
        return True
