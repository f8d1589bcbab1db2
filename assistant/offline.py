"""The offline backend: parse, plan, run the tools, write the answer from their outputs.

Deterministic, no network, no model download: the same question in the same state gives the
same tool calls and the same words."""

from __future__ import annotations

import re

import tools
from assistant import guard
from assistant.examples import Examples
from assistant.intents import LIST_ASKED, SCORE_ASKED
from assistant.lexicon import Lexicon
from assistant.parser import Parse, Parser
from assistant.planner import Plan, Planner, Step
from assistant.render import (
    chart_for,
    composition_text,
    matches_nobody,
    render_call,
    render_calls,
    student_card,
)
from assistant.types import Answer, ConversationState, ToolCall
from data.catalogue import no_catalogue_message
from tools.session import ToolSession


def next_state(
    plan: Plan,
    state: ConversationState,
    parsed_budget: float | None,
    interventions: list[str] | None,
    answered: bool,
) -> ConversationState:
    new = state.model_copy(deep=True)
    new.turns += 1
    if plan.clarify:
        new.pending = plan.clarify
        return new
    new.pending = None
    if not answered:
        return new
    new.intents = [i for i in plan.intents if i != "capabilities"]
    if plan.student_ids:
        new.student_id = plan.student_ids[0]
    steps = plan.steps
    equity = next((s for s in steps if s.tool is tools.query_equity), None)
    if any(s.intent not in ("explain", "score", "help_student", "model") for s in steps):
        # the scope the answer used ("which is cheapest?" ran on the conversation's cohort)
        scoped = next((s for s in steps if s.arguments.get("filters")), None)
        used = equity or scoped
        new.filters = (used.arguments["filters"] if used else plan.filters) or None
    if equity:
        new.group_by, new.metric = equity.arguments["group_by"], equity.arguments["metric"]
    if interventions:
        new.interventions = interventions
    if parsed_budget:
        new.budget = parsed_budget
    return new


def joined(first: Answer, second: Answer) -> Answer:
    """One answer to a question of two asks: both texts and calls in order; the conversation
    continues from the second."""
    answered = "answered" in (first.outcome, second.outcome)
    return Answer(
        text=f"{first.text}\n\n{second.text}",
        outcome="answered" if answered else second.outcome,
        intents=list(dict.fromkeys(first.intents + second.intents)),
        tool_calls=first.tool_calls + second.tool_calls,
        chart=first.chart or second.chart,
        student=first.student or second.student,
        report_markdown=first.report_markdown or second.report_markdown,
        follow_ups=second.follow_ups or first.follow_ups,
        declined=[  # an ask refused or asked back beside the other's answer is named in it
            *(d for part in (first, second) for d in part.declined),
            *(p.text for p in (first, second) if answered and p.outcome != "answered"),
        ],
        state=second.state,
    )


# Asking how risk changed over time, which one published snapshot cannot tell.
TREND = re.compile(
    r"\btrend\w*|\bgetting (?:better|worse)\b|\bover time\b|\bsince (?:last|the last)\b|"
    r"\b(?:going|gone) (?:up|down)\b|\bimprov(?:ed|ing) since\b|\bcompared? (?:to|with) last\b|"
    # "better this year than last year", "vs the previous term", "year over year"
    r"\b(?:than|since|from|vs\.?|versus|compared? (?:to|with)) (?:it was |they were |(?:s?he|it) "
    r"was )?(?:last|the last|the previous|previous|a) (?:year|term|semester|quarter|month|week)\b|"
    r"\byear[- ](?:over|on)[- ]year\b|\b(?:last|previous) (?:year|term|semester)'?s\b|"
    r"\b(?:week|month|term|year) (?:by|over|to|on) (?:week|month|term|year)\b|"
    r"\b(?:has|have) [\w' ]{0,25}\bchanged\b|"
    # "how has the share … moved over the last three years?"
    r"\bover the (?:last|past) (?:\w+ )?(?:years?|terms?|semesters?|months?|quarters?|weeks?)\b|"
    r"\bhow (?:has|have) [^.?!]{0,50}\b(?:moved|shifted|evolved|grown|risen|fallen|dropped)\b|\bsince (?:january|february|march|april|may|june|"
    r"july|august|september|october|november|december|the (?:start|beginning)|fall|autumn|spring)\b"
)
ONE_SNAPSHOT = (
    "SARA holds one published snapshot of the data and scores, so it cannot say how a "
    "student's or a group's risk or record has changed over time."
)
# A query written in SQL (over a warehouse table, with SQL around it), not a question in words.
SQL_TEXT = re.compile(
    r"\bselect\b.{0,300}?\bfrom\s+(?:students|scores|contributions|risk_factors|"
    r"group_aggregates|model_metrics|calibration|fairness_groups|fairness_gaps|meta)\b"
    r"(?=.*(?:\bgroup by\b|\bwhere\b|\border by\b|\blimit\b|;|$))|"
    r"\bselect\s+(?:\*|count\s*\()"
)
# Words that point back at students named before ("them", "her", "those").
COHORT_OR_STUDENT = re.compile(
    r"\b(?:them|they|their|those|these|she|her|he|him|his|that group|this group|which ones|"
    r"the ones)\b"
)
# A student not in the warehouse: "this new transfer student", "a hypothetical kid".
NEW_STUDENT = re.compile(
    r"\b(?:new|transfer\w*|incoming|hypothetical|prospective|made-up)\b[^.?!:]{0,20}"
    r"\b(?:student|kid|pupil|learner|enrol+ee)s?\b"
)
# Where one question may hold two asks: "score A and explain B", "the AUC, and the share by …",
# "…, plus a full equity summary". A split is only taken when it loses nothing the whole read.
PART_BREAK = re.compile(
    r"\s*;\s*|,?\s+(?:and|plus|also),?\s+(?:also\s+|then\s+)?|,?\s+then\s+|(?<=\?)\s+"
)


def _asked(text: str) -> str:
    """The sentences that ask, when some end in a question mark: "since last year we only
    caught them late. Could you show me …?" asks no trend."""
    sentences = re.split(r"(?<=[.!?])\s+", text)
    asked = [s for s in sentences if s.rstrip().endswith("?")]
    return " ".join(asked) if asked else text


def _halves(question: str):
    """Each way of cutting ``question`` at a PART_BREAK into two non-empty asks."""
    for match in PART_BREAK.finditer(question):
        left, right = question[: match.start()].strip(), question[match.end() :].strip()
        if left and right:
            yield left, right


def _tables(plan: Plan) -> set[tuple[str, tuple[str, ...]]]:
    return {
        (s.arguments.get("metric", ""), tuple(s.arguments.get("group_by") or ()))
        for s in plan.steps
        if s.tool is tools.query_equity
    }


def _finer(whole: Plan, left: Plan, right: Plan) -> bool:
    """Whether two asks read apart keep tables the whole reading loses: a measure it drops
    ("the share at High by race, and the true positive rate by race there" ran only the
    second), or two breakdowns it crosses ("the TPR by race, and the share High by SES")."""
    tables, parts = _tables(whole), _tables(left) | _tables(right)
    if not (_tables(left) and _tables(right)):
        return False
    more = {m for m, _ in parts} > {m for m, _ in tables}
    crossed = any(len(g) > 1 for _, g in tables) and all(len(g) == 1 for _, g in parts)
    # each ask with a measure and a breakdown of its own ("outcome rate by race and gender"
    # is one crossed table: its second half only borrows the first's measure)
    apart = [({m for m, _ in _tables(p)}, {c for _, g in _tables(p) for c in g}) for p in (left, right)]
    return more or (crossed and apart[0][0] != apart[1][0] and apart[0][1] != apart[1][1])


class OfflineBackend:
    name = "offline"

    def __init__(self, lexicon: Lexicon):
        self.lexicon = lexicon
        self.parser, self.planner = Parser(lexicon), Planner(lexicon)
        self.examples = Examples.of(lexicon, lexicon.example_student)

    def _read(self, question: str, state: ConversationState, part: str | None = None):
        parsed = self.parser.parse(question)
        if state.pending and not parsed.intents:
            # a comma keeps the answer apart ("… students, 200k" names no student "200k")
            parsed = self.parser.parse(f"{state.pending.question}, {question}")
        self._as_part(parsed, part)
        return parsed, self.planner.plan(parsed, state)

    @staticmethod
    def _as_part(parsed: Parse, part: str | None) -> None:
        """Mark an ask of a question of several (``part`` "first" or "rest")."""
        parsed.carry_scope = part == "rest" and not (
            parsed.filters or parsed.student_ids or parsed.all_students or parsed.student_ref
        )

    def refusal(
        self, question: str, state: ConversationState, session: ToolSession
    ) -> Answer | None:
        """The refusal this question gets (certainty, protected targeting, a what-if SARA
        cannot compute, information the data lacks), else None; the LLM backend asks this first
        so both backends refuse the same things."""
        return self._refusal(*self._read(question, state), state, session)

    def _refusal(
        self, parsed: Parse, plan: Plan, state: ConversationState, session: ToolSession
    ) -> Answer | None:
        certainty = guard.certainty_refusal(parsed.text)
        if certainty:
            students = parsed.student_ids or (
                [state.student_id] if parsed.student_ref and state.student_id else []
            )
            return self._certainty(certainty, students, state, session)
        if plan.refusal:
            return Answer(
                text=plan.refusal.message,
                outcome="refused",
                intents=["protected"],
                state=next_state(plan, state, None, None, False),
                follow_ups=[
                    *(f"How does risk differ by {p}?" for p in self.examples.protected[:1]),
                    "Summarise equity for all students",
                ],
            )
        # "what if we doubled it?" after a plan: its budget, scaled
        scaled = (parsed.budget_scale or parsed.budget_added) and state.budget
        what_if = None if scaled else guard.what_if_refusal(
            parsed.text, parsed.interventions, list(self.lexicon.interventions.values())
        )
        if what_if:
            return self._unanswered(what_if.message, "refused", [what_if.kind], plan, state)
        cannot = self._cannot(parsed)
        # a group question whose condition the data lacks would be answered without it
        asks_students = bool(plan.student_ids) and bool(plan.steps)
        # "how has her risk changed since last year?" asks only the change, not today's score
        only_change = (
            cannot == ONE_SNAPSHOT
            and set(plan.intents) <= {"score", "explain"}
            and "explain" not in parsed.intents
            and not SCORE_ASKED.search(TREND.sub(" ", parsed.text))
        )
        # "does she qualify for free lunch?" asks only what the data lacks about her
        only_absent = cannot != ONE_SNAPSHOT and not parsed.intents & {"explain", "score", "help"}
        if cannot and (
            not parsed.intents or plan.clarify or not asks_students or only_change or only_absent
        ):
            return self._unanswered(cannot, "refused", ["not_in_data"], plan, state)
        return None

    def _cannot(self, parsed: Parse) -> str | None:
        """What the data cannot tell that the question asks: information it does not hold, or
        a trend one snapshot cannot show ("is she trending worse?")."""
        return self._absent(parsed) or (ONE_SNAPSHOT if TREND.search(_asked(parsed.text)) else None)

    def _parts(self, question: str, parsed: Parse, plan: Plan, state: ConversationState):
        """``question`` as two asks answered in turn, when read whole it drops a tool one of
        its parts needs ("what's the AUC, and the share by …" ran only the share) or applies
        each ask to every student ("score A and explain B" explained both); else None."""
        if plan.refusal or plan.clarify or not plan.steps or state.pending:
            return None
        whole_tools = {step.tool.name for step in plan.steps}
        if parsed.counts and "find_students" in whole_tools and LIST_ASKED.search(parsed.text):
            return None  # "how many …, and who are the top 3?": the list states its count
        for left, right in _halves(question):
            if self.parser.student_ids(right.split()[0].strip(",.;:?!"))[0]:
                continue  # "score A, B and C, then …": C is one of the ids, not an ask
            left_parse = self.parser.parse(left)
            self._as_part(left_parse, "first")
            left_plan = self.planner.plan(left_parse, state)
            if not left_plan.steps or left_plan.clarify or left_plan.refusal:
                continue
            after = next_state(left_plan, state, left_parse.budget, None, True)
            right_parse = self.parser.parse(right)
            self._as_part(right_parse, "rest")
            right_plan = self.planner.plan(right_parse, after)
            if not right_plan.steps or right_plan.clarify or right_plan.refusal:
                continue
            if not self._whole(parsed, left_parse, right_parse, left_plan, right_plan):
                continue
            tools_used = {s.tool.name for s in left_plan.steps + right_plan.steps}
            apart = (  # "score A and explain B"; "score A and B" is one call for both
                left_plan.student_ids
                and right_plan.student_ids
                and not set(left_plan.student_ids) & set(right_plan.student_ids)
                and len(set(plan.student_ids)) > 1
                and {s.tool for s in left_plan.steps} != {s.tool for s in right_plan.steps}
            )
            if tools_used > whole_tools or apart or _finer(plan, left_plan, right_plan):
                return left, right
        return None

    @staticmethod
    def _unanswered(
        text: str, outcome: str, intents: list[str], plan: Plan, state: ConversationState
    ) -> Answer:
        """A reply that runs no tool (a refusal, a question back): the conversation moves on a
        turn and keeps what it had."""
        return Answer(
            text=text,
            outcome=outcome,  # type: ignore[arg-type]
            intents=intents,
            state=next_state(plan, state, None, None, False),
        )

    @staticmethod
    def _record_typed(parsed: Parse) -> bool:
        """A new student's record typed into the chat to be scored ("score this new transfer
        student: age 15, grade 10, …"): values of several columns and no id."""
        columns = [c for c in parsed.filters if c != "risk_level"]
        return (
            not parsed.student_ids
            and "score" in parsed.intents
            and len(columns) >= 3
            and bool(NEW_STUDENT.search(parsed.text))
        )

    def expected_tools(self, question: str, state: ConversationState) -> list[str]:
        """The tools this backend would call for ``question``, ask by ask (none when it would
        refuse or ask back): what another backend's answer is checked against."""
        parsed, plan = self._read(question, state)
        if plan.refusal or plan.clarify or not plan.steps:
            return []
        parts = self._parts(question, parsed, plan, state)
        if not parts:
            return [s.tool.name for s in plan.steps]
        first = self._read(parts[0], state, "first")[1]
        after = next_state(first, state, None, None, True)
        second = self._read(parts[1], after, "rest")[1]
        return [s.tool.name for s in first.steps + second.steps]

    @staticmethod
    def _another_student(plan: Plan, state: ConversationState) -> bool:
        """One student after another in consecutive turns (not after a list of a group)."""
        about = set(state.intents) & {"explain", "score", "help_student"}
        return (
            len(plan.student_ids) == 1
            and bool(about)
            and state.student_id is not None
            and state.student_id != plan.student_ids[0]
            and state.next_offset is None
        )

    def _refused_in_part(
        self, question: str, state: ConversationState, session: ToolSession, part: str | None
    ) -> Answer | None:
        """A question of two asks where one is refused ("list the Black students at high risk,
        and give me the share at High risk by race"): the refusal of that ask beside the answer
        to the other, which is answered only when it passes every check on its own."""
        if part is not None or state.pending:
            return None
        for left, right in _halves(question):
            first = self._answer(left, state, session, "first")
            second = self._answer(right, first.state, session, "rest")
            outcomes = {first.outcome, second.outcome}
            # an ask that points back at the refused one ("…? List them.") is refused with it
            answered = second if first.outcome == "refused" else first
            points_back = answered is second and bool(COHORT_OR_STUDENT.search(right.lower()))
            # the answered ask may compare groups by a protected trait, never keep a scope of
            # one ("… just for the Asian students, and tell me who should get which")
            scoped = any(
                column in self.lexicon.protected
                for call in first.tool_calls + second.tool_calls
                for column in (call.arguments.get("filters") or {})
            )
            if outcomes == {"refused", "answered"} and not scoped and not points_back:
                both = joined(first, second)
                both.outcome = "refused"  # refused, with what may be answered beside it
                both.state.turns = state.turns + 1
                return both
        return None

    @staticmethod
    def _whole(parsed: Parse, left: Parse, right: Parse, left_plan: Plan, right_plan: Plan) -> bool:
        """Whether two parts keep every condition of the whole read: no filter value or
        intervention lost or shared out between them ("rural and town schools", "tutoring,
        mentoring and outreach" are one list, not two asks), each part's tools use the
        groups, filters and measures it names ("TPR and FPR by race" is not "TPR" alone, read
        as a question about the model), and a part with nothing of its own asks for a tool that
        needs nothing ("…, plus a full equity summary"; "…, and what does each cost?" is the
        same comparison, not another ask)."""
        for column, values in parsed.filters.items():
            # a value list shared out ("rural | and town schools") is lost; one part naming a
            # value the other compares ("private rural schools, and private vs public") is not
            have = [set(p.filters.get(column, [])) for p in (left, right)]
            shared_out = have[0] and have[1] and not (have[0] <= have[1] or have[1] <= have[0])
            if not set(values) <= have[0] | have[1] or shared_out:
                return False
        asked = [set(p.interventions) for p in (left, right)]
        if not set(parsed.interventions) <= asked[0] | asked[1] or (asked[0] and asked[1]):
            return False
        for part, plan in ((left, left_plan), (right, right_plan)):
            names = part.filters or part.group_by or part.metrics
            uses = any(
                key in step.arguments
                for step in plan.steps
                for key in ("filters", "group_by", "metric", "attributes", "student_ids")
            )
            if names and not uses:
                return False
        own = right.has_slots  # "what do they each cost?" points back, asks nothing new
        standalone = {tools.equity_summary, tools.model_info}
        # "list them, and what would help them?": pointing back at a group, but another ask
        acts = {tools.compare_interventions, tools.plan_interventions, tools.find_students}
        right_tools = {s.tool for s in right_plan.steps}
        other = (
            right.cohort_ref
            and right_tools <= acts
            and right_tools.isdisjoint(s.tool for s in left_plan.steps)
        )
        return own or other or all(step.tool in standalone for step in right_plan.steps)

    def answer(self, question: str, state: ConversationState, session: ToolSession) -> Answer:
        return self._answer(question, state, session)

    def _answer(
        self,
        question: str,
        state: ConversationState,
        session: ToolSession,
        part: str | None = None,
    ) -> Answer:
        parsed, plan = self._read(question, state, part)
        refused = self._refusal(parsed, plan, state, session)
        if refused is not None:
            # a selection by a protected trait beside another ask: that ask is still answered
            # (never beside a column the data contract excludes: nothing of it is answered)
            excluded = any(t.pattern.search(parsed.text) for t in self.lexicon.excluded_terms)
            # and a trend asked beside another ask ("the share by locale, and has it gone up
            # since last year?"): the other ask is answered, the trend said to be out of reach
            trend = refused.intents == ["not_in_data"] and refused.text == ONE_SNAPSHOT
            mixed = (refused.intents == ["protected"] or trend) and not plan.whole_refusal
            both = mixed and not excluded and self._refused_in_part(question, state, session, part)
            if both and trend:
                both.outcome = "answered"
            return both or refused
        parts = self._parts(question, parsed, plan, state)
        if parts:
            first = self._answer(parts[0], state, session, "first")
            both = joined(first, self._answer(parts[1], first.state, session, "rest"))
            both.state.turns = state.turns + 1  # one question, however many asks
            return both
        if SQL_TEXT.search(parsed.text):
            return self._unanswered(
                "The chat does not run SQL. An analyst key can run one guarded SELECT over "
                "the warehouse with the run_sql tool (POST /v1/tools/run_sql, body "
                '{"sql": "…"}); or ask me the question in words.',
                "refused",
                ["sql"],
                plan,
                state,
            )
        if self._record_typed(parsed):
            return self._unanswered(
                "The chat scores students already in the warehouse, by id. To score a new "
                "student's record, send it with every model input to the score_students tool "
                '(POST /v1/tools/score_students, body {"records": [{…}]}, a staff key).',
                "refused",
                ["record"],
                plan,
                state,
            )
        cannot = self._cannot(parsed)  # beside a student's answer (else refused above)
        if parsed.problems:  # never answer a question with one of its conditions dropped
            return self._unanswered(
                "I can't use that: " + "; ".join(parsed.problems) + ". Could you check the value?",
                "clarified",
                plan.intents or ["unknown"],
                plan,
                state,
            )
        if not plan.intents and (parsed.cohort_ref or parsed.student_ref) and not state.intents:
            # "compare them" with nothing before it: who "them" are is asked, not guessed
            return self._unanswered(
                "There is no earlier answer to refer back to. "
                + self.examples.clarify("scope")
                + " And what would you like to know about them: their risk, why, how groups "
                "compare, or what would help?",
                "clarified",
                ["unknown"],
                plan,
                state,
            )
        if not plan.intents:
            if not guard.in_domain(parsed.text) and not parsed.has_slots:
                return self._unanswered(
                    guard.out_of_scope_message(), "refused", ["out_of_scope"], plan, state
                )
            return self._unanswered(
                "I'm not sure what you'd like to know. You could ask, for example:\n"
                + self.examples.capabilities().split("\n", 1)[1],
                "clarified",
                ["unknown"],
                plan,
                state,
            )
        if plan.intents == ["capabilities"]:
            return Answer(
                text=self.examples.capabilities(),
                outcome="answered",
                intents=plan.intents,
                state=next_state(plan, state, None, None, True),
                follow_ups=self.examples.follow_ups(plan, []),
            )
        if plan.clarify:
            return self._unanswered(
                self.examples.clarify(plan.clarify.missing), "clarified", plan.intents, plan, state
            )
        denied = [s.tool for s in plan.steps if not session.can(s.tool)]
        if denied:
            return self._unanswered(
                f"That needs the {denied[0].role} role (the {denied[0].name} tool); you "
                f"are signed in with the {session.role} role.",
                "refused",
                plan.intents,
                plan,
                state,
            )
        unavailable = self._unavailable(plan, session)
        if unavailable and not plan.steps:
            return self._unanswered(unavailable, "refused", plan.intents, plan, state)
        calls = [ToolCall.run(session, step.tool, step.request) for step in plan.steps]
        scored = next((c.output for c in calls if c.name == "score_students" and c.output), None)
        if plan.explain_top and scored and scored.students:  # "then explain the riskiest one"
            top = max(scored.students, key=lambda s: s.risk_score)
            step = Step.of(tools.explain_student, {"student_id": top.student_id}, "explain")
            plan.steps.append(step)
            calls.append(ToolCall.run(session, step.tool, step.request))
        interventions = next(
            (
                s.arguments.get("interventions")
                for s in plan.steps
                if s.arguments.get("interventions")
            ),
            None,
        )
        after = next_state(plan, state, parsed.budget, interventions, True)
        listed = next((c.output for c in calls if c.name == "find_students" and c.output), None)
        if listed:
            after.listed = [s.student_id for s in listed.students][:50]
            step = next(s for s in plan.steps if s.tool is tools.find_students)
            after.next_offset = step.arguments.get("offset", 0) + len(listed.students)
        elif len(plan.student_ids) > 1:  # "score A and B", then "explain the first one"
            after.listed, after.next_offset = list(plan.student_ids), None
        elif self._another_student(plan, state):  # "score A", "and B?": the two of them
            earlier = state.listed or [state.student_id]
            after.listed = list(dict.fromkeys([*earlier, *plan.student_ids]))[-50:]
        elif not any(step.arguments.get("student_ids") == state.listed for step in plan.steps):
            after.listed, after.next_offset = None, None
        answer = self.compose(calls, plan, after)
        for part in (unavailable, cannot):
            # the part SARA cannot answer (what the data cannot tell, an intervention the
            # catalogue lacks) is said beside what it can, never dropped
            if part:
                answer.text += "\n\n" + part
                answer.declined.append(part)
        if parsed.equity_of_money and any("equity" in s.arguments for s in plan.steps):
            answer.text += (
                "\n\nThe planner's equity rule sets a share of the students treated, not of the "
                "money: it was applied to the students treated."
            )
        return answer

    def _absent(self, parsed: Parse) -> str | None:
        """What to say when the question asks for information the data does not hold
        ("religion" where no column is about it), so it is never answered as if unasked."""
        if not parsed.absent:
            return None
        held = [self.lexicon.label(t.column) for t in self.lexicon.attributes]
        return (
            f"The data has no information on {' or '.join(parsed.absent)}, so I can't answer "
            f"that. What it holds about students: {', '.join(dict.fromkeys(held))}."
        )

    @staticmethod
    def _unavailable(plan: Plan, session: ToolSession) -> str | None:
        """Take out of ``plan`` the intervention steps when the dataset defines no
        interventions, and say so (with how to add them)."""
        needs = (tools.compare_interventions, tools.plan_interventions)
        if not any(step.tool in needs for step in plan.steps):
            return None
        if session.context.catalogue is not None:
            return None
        plan.steps = [step for step in plan.steps if step.tool not in needs]
        return no_catalogue_message(session.context.spec)

    def compose(self, calls: list[ToolCall], plan: Plan, state: ConversationState) -> Answer:
        summary = next((c.output for c in calls if c.name == "equity_summary" and c.output), None)
        failed = all(c.error and not matches_nobody(c) for c in calls) and calls
        text = render_calls(calls, self.lexicon, plan.focus)
        if plan.composition:  # "what share of the high-risk students are girls?"
            text = "\n\n".join(composition_text(c, plan.composition, self.lexicon) for c in calls)
        return Answer(
            text=text,
            outcome="error" if failed else "answered",
            intents=plan.intents,
            tool_calls=calls,
            chart=chart_for(calls, self.lexicon),
            student=student_card(calls),
            report_markdown=summary.markdown if summary else None,
            follow_ups=self.examples.follow_ups(plan, calls),
            state=state,
        )

    def _certainty(
        self,
        refusal: guard.Refusal,
        students: list[str],
        state: ConversationState,
        session: ToolSession,
    ) -> Answer:
        text, calls = refusal.message, []
        if students and session.can(tools.score_students):
            asked = {"student_ids": students[:3]}
            calls.append(ToolCall.run(session, tools.score_students, asked))
            text += "\n\nWhat SARA can say: " + render_call(calls[0], self.lexicon)
        new = state.model_copy(update={"turns": state.turns + 1, "pending": None})
        if students:
            new.student_id = students[0]
        return Answer(
            text=text, outcome="refused", intents=["certainty"], tool_calls=calls, state=new
        )
