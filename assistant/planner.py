"""From what the parser read (and the conversation so far) to tool calls, a clarifying question
or a refusal. This is where follow-ups are resolved and missing details are asked for."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import tools
from assistant import guard
from assistant.intents import MEAN_RISK_WORDS, choose_intents, of_everyone, rate_asked
from assistant.lexicon import Lexicon, load_vocabulary
from assistant.parser import Parse
from assistant.types import ConversationState, Pending, arguments_of
from tools.base import Tool, ToolInput
from tools.errors import InvalidInput
from tools.policy import selection_refusal

STUDENT_INTENTS = ("explain", "score", "help_student")
FOLLOW_MARKERS = re.compile(
    r"^(?:(?:ok(?:ay)?|alright|right|fine|cool|great|thanks)\W+)?"
    r"(?:and|so|what about|how about|only|just|now|same|redo|re-do|rerun|re-run|repeat|"
    r"recompute|recalculate|do (?:it|that|this) again)\b|"
    r"\b(?:too|as well|instead|further|(?:split|break) (?:that|it|this))\b|"
    r"\bbut (?:just|only)\b|\b(?:the )?same (?:money|budget|amount|sum|group|students|kids)\b"
)
# A protected trait said as one the listed students share with someone or are shown with:
# "of her race", "the same gender as", "along with their ethnicity".
SHARED_TRAIT = re.compile(
    r"\b(?:her|his|their|same|that|this|whose|with (?:their|the|each (?:one'?s|student'?s)))"
    r"\s+(?:\w+\s+)?$"
)
# Words that pick out students ("which male students should we prioritise"): with a protected
# value in the question, a selection by it, refused whatever else the question asks.
SELECTS = re.compile(
    r"\b(?:prioriti[sz]e|target|single out|pick|select|rank)\w*\b|"
    r"\bwhich (?:\w+ ){0,3}(?:students|learners|pupils|kids)\b|\bids? of\b"
)
# Words before a column's name that point back at the conversation's value for it.
POINTS_BACK = re.compile(r"\b(?:that|this|the same|those|these)\s+$")
# Words that ask for a comparison: without them, values name the scope of a rate, not groups.
SCOPE_CONTRAST = re.compile(
    r"\b(?:vs|versus|compar\w*|differ\w*|between|gaps?|than|rest|others|everyone else|"
    r"more likely|less likely|better|worse|less|more|higher|lower|bigger|smaller|across|by|"
    r"each|per)\b"
)
AMOUNT_COMPARED = re.compile(
    r"\b(?:more|less|fewer|higher|lower|bigger|smaller) than (?:an? |one |two |three |four |five |"
    r"ten |\d[\d.,]*\s?%?)"
)
GENERAL_FAIRNESS = re.compile(r"\b(?:fair\w*|unfair\w*|bias\w*|equitabl\w*|discriminat\w*)")
# Mean risk asked for in so many words (else "risk" in "share at High risk" is not a metric).
MEAN_RISK = re.compile(MEAN_RISK_WORDS.pattern + r"|\brisk scores?\b")
GROUP_INTENTS = ("find", "equity", "fairness", "compare", "plan", "summary")
DEFAULT_METRICS = ["mean_risk", "outcome_rate"]


def _ranged(values: Any) -> bool:
    """A range filter ("attendance below 85 %"): a scope, never groups to compare."""
    values = values if isinstance(values, list) else [values]
    return any(isinstance(v, dict) for v in values)


@dataclass
class Step:
    """One tool call the plan makes: the tool, its typed input and the intent it serves. When
    the question's words do not make a valid input, ``request`` keeps the raw arguments, and
    running the step reports the tool's own error (field, value, rule)."""

    tool: Tool
    request: ToolInput | dict[str, Any]
    intent: str

    @classmethod
    def of(cls, tool: Tool, arguments: dict[str, Any], intent: str) -> Step:
        try:
            return cls(tool, tool.parse(arguments), intent)
        except InvalidInput:
            return cls(tool, arguments, intent)

    @property
    def arguments(self) -> dict[str, Any]:
        return arguments_of(self.request)


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
    explain_top: bool = False  # explain the riskiest of student_ids, once they are scored
    whole_refusal: bool = False  # refused as one ask: no part of it is answered apart
    composition: dict[str, list[Any]] = field(default_factory=dict)  # values whose share is asked


@lru_cache(maxsize=1)
def demographic_words() -> re.Pattern[str]:
    """Everyday words for people by a protected trait (vocabulary.yaml)."""
    words = load_vocabulary()["demographic_words"].split()
    return re.compile(r"\b(?:" + "|".join(words) + r")\b")


def _rate_named(parsed: Parse) -> bool:
    """A rate asked for in so many words ("what share of them are at high risk?")."""
    return rate_asked(parsed) and bool({"share_high", "outcome_rate"} & set(parsed.metrics))


class Planner:
    def __init__(self, lexicon: Lexicon):
        self.lexicon = lexicon

    def _referents(self, parsed: Parse, state: ConversationState) -> None:
        """ "that school type", "the same grade": the value the conversation's scope has for
        that column, as a filter of this question (not a grouping by it)."""
        earlier = state.filters or {}
        for term in self.lexicon.attributes:
            if term.column in parsed.filters or term.column not in earlier:
                continue
            for match in term.pattern.finditer(parsed.text):
                if POINTS_BACK.search(parsed.text[max(0, match.start() - 16) : match.start()]):
                    values = earlier[term.column]
                    parsed.filters[term.column] = list(
                        values if isinstance(values, list) else [values]
                    )
                    parsed.group_by = [c for c in parsed.group_by if c != term.column]
                    parsed.mentioned_columns = [
                        c for c in parsed.mentioned_columns if c != term.column
                    ]
                    break

    def plan(self, parsed: Parse, state: ConversationState) -> Plan:
        self._referents(parsed, state)
        listed = state.listed or []
        picked = parsed.pick is not None and -len(listed) <= parsed.pick < len(listed)
        if picked and listed and not parsed.student_ids:
            parsed.student_ids = [listed[parsed.pick]]  # "why is the first one high risk?"
        if state.metric and state.metric.startswith("mean:") and not parsed.has_slots:
            sibling = self.lexicon.sibling(state.metric.removeprefix("mean:"), parsed.text)
            if sibling:  # "reading too" after the mean math score
                parsed.numeric_columns.append(sibling)
                parsed.mentioned_columns.append(sibling)
        paged = self._page(parsed, state)
        if paged is not None:
            return paged
        relative = self._relative_budget(parsed, state)
        about_last_student = parsed.student_ref or (
            parsed.cohort_ref  # "what would help them?" right after one student
            and not state.listed
            and bool(set(state.intents) & set(STUDENT_INTENTS))
        )
        students = parsed.student_ids or (
            [state.student_id] if about_last_student and state.student_id else []
        )
        # "tutoring vs mentoring?" weighs interventions: its "vs" compares no groups
        asks = parsed.intents - (
            {"equity"} if parsed.interventions and not parsed.group_by else set()
        )
        if (
            not students
            and not parsed.has_slots
            and state.student_id
            and parsed.intents
            and parsed.intents <= {"explain", "score", "help"}
        ):
            students = [state.student_id]  # "why?" right after a student's score
        elif (
            not students
            and state.student_id
            and set(state.intents) & set(STUDENT_INTENTS)
            and asks
            and asks <= {"explain", "score", "help", "compare"}
            and not (
                parsed.filters
                or parsed.group_by
                or parsed.budget
                or parsed.cohort_ref
                or parsed.all_students
                or parsed.limit
            )
        ):
            students = [state.student_id]  # "would tutoring do it?" right after her explanation
        about_students = bool(students or parsed.student_ref)
        intents = choose_intents(parsed, about_students, bool(parsed.filters))
        family = {"equity": "groups", "fairness": "groups"}
        marked = FOLLOW_MARKERS.search(parsed.text) and (
            {family.get(i, i) for i in intents} <= {family.get(i, i) for i in state.intents}
            # "tutoring vs mentoring then?" after a plan or a comparison: the same ask again;
            # "so which program would do the most for her" after her explanation is a new one
            or (not parsed.intents - {"compare"} and bool({"plan", "compare"} & set(state.intents)))
        )
        follow_up = bool(
            (not parsed.intents or marked)
            and state.intents
            and (parsed.has_slots or parsed.student_ref or parsed.cohort_ref)
            and not (parsed.student_ids and not set(state.intents) & set(STUDENT_INTENTS))
        )
        if relative:
            follow_up, intents = True, list(state.intents)  # "what if we had twice that?"
        elif follow_up and "plan" in intents and parsed.budget:
            pass  # "what could we do for that group with $30k?" is a plan for the last cohort
        elif parsed.composition:  # the make-up of a scope, of the last one for "of them"
            intents = ["equity"]
            follow_up = bool(parsed.cohort_ref and state.intents)
        elif (
            follow_up
            and not intents
            and parsed.cohort_ref
            and parsed.numeric_columns
            and "find" in state.intents
        ):
            intents = ["equity"]  # "… and tell me their average attendance" after a list
        elif follow_up and intents == ["equity"] and _rate_named(parsed):
            pass  # "what share of them are at high risk?" after a list: their rate
        elif (
            follow_up
            and intents == ["equity"]
            and parsed.group_by
            and parsed.metrics
            and {"find", "model"} & set(state.intents)
        ):
            pass  # "how do private and public stack up on predicted risk?" after a list
        elif follow_up:
            intents = list(state.intents)
            if not students and state.student_id and any(i in STUDENT_INTENTS for i in intents):
                students = [state.student_id]
        if not intents and (students or (parsed.student_ref and state.student_id)):
            intents = ["explain"]
        explain_top = parsed.pick_top and len(students) > 1 and "explain" in intents
        if explain_top and "score" not in intents:  # the riskiest is known once all are scored
            intents.insert(intents.index("explain"), "score")
        plan = Plan(intents=intents, student_ids=students, explain_top=explain_top)
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

    def _page(self, parsed: Parse, state: ConversationState) -> Plan | None:
        """ "show me the next 25" after a list: the same list from where it stopped. Asked
        with no list before it, the question asks which students are meant."""
        if parsed.page is None or parsed.student_ids:
            return None
        earlier = {k: (v if isinstance(v, list) else [v]) for k, v in (state.filters or {}).items()}
        if any(earlier.get(k) != v for k, v in parsed.filters.items()):
            return None  # "5 more students in rural schools" is a list of its own
        plan = Plan(intents=["find"])
        if "find" not in state.intents or state.next_offset is None:
            self._need(plan, "scope", parsed.text)
            return plan
        size = parsed.page or len(state.listed or []) or 10
        arguments = {"filters": earlier, "limit": size, "offset": state.next_offset}
        plan.filters = earlier
        plan.steps = [Step.of(tools.find_students, arguments, "find")]
        return plan

    @staticmethod
    def _relative_budget(parsed: Parse, state: ConversationState) -> bool:
        """ "twice that", "another $20k" after a plan: the budget against the last one."""
        if not state.budget or "plan" not in state.intents:
            return False
        if parsed.budget_scale:
            parsed.budget = state.budget * parsed.budget_scale
            return True
        if parsed.budget and parsed.budget_added:
            parsed.budget = state.budget + parsed.budget
            return True
        return False

    def _cohort(self, parsed: Parse, state: ConversationState, follow_up: bool) -> dict:
        filters = {k: list(v) for k, v in parsed.filters.items() if k not in parsed.group_by}
        if (follow_up or parsed.cohort_ref or parsed.carry_scope) and state.filters:
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
        shared = [  # "the other students of her race", "… along with their gender"
            term.column
            for term in self.lexicon.attributes
            if term.column in protected
            and "find" in parsed.intents
            and any(
                SHARED_TRAIT.search(parsed.text[max(0, m.start() - 24) : m.start()])
                for m in term.pattern.finditer(parsed.text)
            )
        ]
        if shared:
            labels = [self.lexicon.label(c) for c in dict.fromkeys(shared)]
            plan.refusal = guard.Refusal("protected", selection_refusal(labels))
            plan.whole_refusal = True  # "… and their gender" is part of the list, not an ask
            return
        lists_students = (
            any(i in ("find", "plan") for i in plan.intents)
            or ("find" in parsed.intents and any(c in protected for c in plan.filters))
            or (any(c in protected for c in plan.filters) and SELECTS.search(parsed.text))
        )
        labels = {c: self.lexicon.label(c) for c in protected}
        named = [c for c in plan.filters if c in protected]  # refused by name just below
        if lists_students and protected and not named and demographic_words().search(parsed.text):
            plan.refusal = guard.Refusal(
                "protected", selection_refusal(list(labels.values()), or_another=True)
            )
            return
        plan.refusal = guard.check_targeting(
            parsed.text,
            named,
            [c for c in parsed.group_by if c in protected],
            lists_students,
            labels,
        )

    def _scope(
        self, parsed: Parse, plan: Plan, state: ConversationState, follow_up: bool = False
    ) -> dict | None:
        if plan.student_ids:
            return {"student_ids": plan.student_ids}
        # "them" after a list asked for in another message is the students listed; in the
        # same message ("list the …, and what would help them?") it is the group described
        same_message = parsed.carry_scope and bool(state.filters)
        listed = (parsed.cohort_ref or follow_up) and state.listed and not parsed.filters
        if listed and not same_message:
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
            if intent == "explain" and plan.explain_top:
                continue  # chosen from the scores when they are in
            if intent == "explain":
                plan.steps += [
                    Step.of(tools.explain_student, {"student_id": s}, intent)
                    for s in plan.student_ids[:3]
                ]
            elif intent == "score":
                plan.steps.append(
                    Step.of(tools.score_students, {"student_ids": plan.student_ids}, intent)
                )
            elif intent == "help_student":  # what would help; why is asked on its own
                args: dict[str, Any] = {"student_ids": plan.student_ids}
                if interventions:
                    args["interventions"] = interventions
                plan.steps.append(Step.of(tools.compare_interventions, args, intent))
            elif intent == "compare":
                scope = self._scope(parsed, plan, state, follow_up)
                if scope is None:
                    return self._need(plan, "scope", parsed.text)
                plan.steps.append(
                    Step.of(
                        tools.compare_interventions,
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
                if parsed.equity:
                    args["equity"] = parsed.equity
                plan.steps.append(Step.of(tools.plan_interventions, args, intent))
            elif intent == "find":
                args = {"filters": plan.filters, "limit": parsed.limit or 10}
                plan.steps.append(Step.of(tools.find_students, args, intent))
            elif intent in ("equity", "fairness"):
                if not self._equity(parsed, state, plan, intent, follow_up):
                    return None
            elif intent == "summary":
                args = {"filters": plan.filters}
                if parsed.group_by and "equity" not in plan.intents:
                    args["attributes"] = parsed.group_by
                plan.steps.append(Step.of(tools.equity_summary, args, intent))
            elif intent == "model":
                plan.steps.append(Step.of(tools.model_info, {}, intent))
        return None

    def _equity(
        self, parsed: Parse, state: ConversationState, plan: Plan, intent: str, follow_up: bool
    ) -> bool:
        groups = list(parsed.group_by)
        adds = re.search(r"\b(?:too|as well|also|further)\b", parsed.text)
        if follow_up and state.group_by and adds:
            groups = list(dict.fromkeys([*state.group_by, *groups]))[:2]
        if not groups:
            groups = [
                c
                for c in parsed.mentioned_columns
                if c not in plan.filters and c not in parsed.numeric_columns
            ][:2]
        if not groups and follow_up and state.group_by:
            groups = list(state.group_by)
        # "what fraction of 9th graders are High risk": the rate of that scope alone
        # "missing more than one day in five" bounds the scope; it contrasts nothing
        said = AMOUNT_COMPARED.sub(" ", parsed.text)
        scope_only = intent != "fairness" and not SCOPE_CONTRAST.search(said)
        scoped = scope_only and (
            any(c != "risk_level" for c in plan.filters)
            or of_everyone(parsed)  # "what share of all students is High?"
        )
        if not groups and not scoped:
            protected = self.lexicon.protected
            # values to compare ("disabled vs non-disabled") before a single value, the scope
            movable = sorted(
                (c for c in plan.filters if c != "risk_level" and not _ranged(plan.filters[c])),
                key=lambda c: (
                    intent == "fairness" and c not in protected,
                    len(plan.filters[c]) < 2,
                ),
            )
            groups = movable[:1] if intent == "fairness" else movable[:2]
        filters = {k: v for k, v in plan.filters.items() if k not in groups}
        if parsed.composition:  # "what share of the high-risk students are girls?"
            step = {"metric": "mean_risk", "group_by": groups, "filters": filters}
            plan.steps.append(Step.of(tools.query_equity, step, intent))
            plan.composition = dict(parsed.composition)
            return True
        if "share_high" in parsed.metrics and filters.get("risk_level") == ["High"]:
            filters.pop("risk_level")  # "share at High risk" is the metric, not a filter
        if intent == "fairness":
            if not groups or "summary" in plan.intents:  # beside a summary: the headline
                plan.steps.append(Step.of(tools.model_info, {}, intent))
                return True
            # the error rate asked for ("false alarms by sex"); both when none or both are
            # named, or when fairness is asked about in general ("is it fair … does it overflag")
            named = [m for m in parsed.metrics if m in ("tpr", "fpr")]
            general = GENERAL_FAIRNESS.search(parsed.text)
            metrics = named if len(named) == 1 and not general else ["tpr", "fpr"]
        else:
            if not groups and not scoped:
                self._need(plan, "attribute", parsed.text)
                return False
            numeric = [f"mean:{c}" for c in parsed.numeric_columns if c not in groups]
            named = [m for m in parsed.metrics if m in ("share_high", "outcome_rate", "mean_risk")]
            if ("share_high" in named or numeric) and not MEAN_RISK.search(parsed.text):
                named = [m for m in named if m != "mean_risk"]  # "share at High risk"
            # "the share at High risk by locale, and their average attendance too": both
            metrics = (
                numeric + named
                or ([state.metric] if follow_up and state.metric else DEFAULT_METRICS)
            )
        for metric in metrics[:3]:
            plan.steps.append(
                Step.of(
                    tools.query_equity,
                    {"metric": metric, "group_by": groups, "filters": filters},
                    intent,
                )
            )
        return True
