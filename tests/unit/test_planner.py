"""The planner on the built-in spec: from a parsed question and the conversation so far to
typed tool steps, a clarifying question or a refusal. No warehouse, no tool runs."""

from __future__ import annotations

import pytest

import tools
from assistant.parser import Parser
from assistant.planner import Planner, Step
from assistant.types import ConversationState
from tools.errors import InvalidInput
from tools.explain import ExplainInput
from tools.interventions import CompareInput
from tools.planning import PlanInput
from tools.students import FindStudentsInput


@pytest.fixture(scope="module")
def plan(builtin_lexicon):
    parser, planner = Parser(builtin_lexicon), Planner(builtin_lexicon)

    def plan(question: str, state: ConversationState | None = None):
        return planner.plan(parser.parse(question), state or ConversationState())

    return plan


def test_a_student_question_is_typed_steps_of_the_registry_tools(plan):
    planned = plan("Why is S0000042 high risk and what would help?")
    assert planned.intents == ["explain", "help_student"]
    assert [s.tool for s in planned.steps] == [tools.explain_student, tools.compare_interventions]
    explain, compare = (s.request for s in planned.steps)
    assert isinstance(explain, ExplainInput) and explain.student_id == "S0000042"
    assert isinstance(compare, CompareInput) and compare.student_ids == ["S0000042"]
    assert planned.steps[0].arguments == {"student_id": "S0000042"}


def test_a_list_carries_its_filters_and_limit(plan):
    planned = plan("show the 5 highest-risk students in rural schools")
    (step,) = planned.steps
    assert step.tool is tools.find_students and isinstance(step.request, FindStudentsInput)
    assert step.request.filters == {"Locale": ["Rural"]} and step.request.limit == 5


def test_a_group_comparison_queries_equity_per_metric(plan):
    planned = plan("how do students differ by gender?")
    assert {s.tool.name for s in planned.steps} == {"query_equity"}
    assert [s.request.group_by for s in planned.steps] == [["Gender"], ["Gender"]]
    assert [s.request.metric for s in planned.steps] == ["mean_risk", "outcome_rate"]


def test_arguments_that_make_no_valid_input_stay_raw_for_the_tool_to_refuse():
    """The tool's own validation then reports field, value and rule when the step runs."""
    step = Step.of(tools.find_students, {"filters": {}, "limit": 0}, "find")
    assert step.request == {"filters": {}, "limit": 0} and step.arguments == step.request
    with pytest.raises(InvalidInput, match="limit"):
        tools.find_students.parse(step.request)
    typed = Step.of(tools.find_students, {"filters": {}, "limit": 3}, "find")
    assert isinstance(typed.request, FindStudentsInput) and typed.arguments["limit"] == 3


def test_a_missing_budget_is_asked_for(plan):
    planned = plan("plan interventions for the high-risk students")
    assert planned.clarify is not None and planned.clarify.missing == "budget"
    assert planned.steps == []


def test_a_budget_in_the_next_turn_completes_the_plan(plan):
    first = plan("plan interventions for the high-risk students")
    state = ConversationState(pending=first.clarify, intents=first.intents)
    planned = plan(f"{first.clarify.question} $30k", state)
    (step,) = planned.steps
    assert isinstance(step.request, PlanInput) and step.request.budget == 30_000


def test_a_follow_up_resolves_against_the_last_student(plan):
    state = ConversationState(student_id="S0000042", intents=["explain"], turns=1)
    planned = plan("and what would help her?", state)
    assert planned.student_ids == ["S0000042"]
    assert planned.steps[-1].tool is tools.compare_interventions


def test_listing_students_by_a_protected_attribute_is_refused(plan):
    planned = plan("list the highest-risk Black students")
    assert planned.refusal is not None and planned.refusal.kind == "protected"
    assert planned.steps == []
