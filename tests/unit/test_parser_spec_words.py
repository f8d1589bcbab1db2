"""The parser on a district's own spec (the higher-ed example): its labels, synonyms and value
labels as staff type them, quantities to average, sums of money in words, and what the data
does not hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.lexicon import build_lexicon
from assistant.parser import Parser
from data.catalogue import load_catalogue
from data.spec import load_spec

SPEC = Path(__file__).resolve().parents[2] / "data" / "specs" / "higher_ed.yaml"


@pytest.fixture(scope="module")
def parser() -> Parser:
    spec = load_spec(SPEC)
    names = {iv.name: iv.title for iv in load_catalogue(spec).interventions}
    return Parser(build_lexicon(spec, names, 7, known_ids=lambda ids: set()))


@pytest.mark.parametrize(
    ("question", "filters"),
    [
        ("rank the over-55 students by risk", {"age_band": ["55<"]}),  # value label, hyphenated
        ("how do our over-55s do", {"age_band": ["55<"]}),  # and in the plural
        ("risk for women in wales", {"sex": ["F"], "region": ["Wales"]}),  # common synonyms
        ("students with a declared disability", {"disability": ["Y"]}),
        ("non-disabled students in the north", {"disability": ["N"], "region": ["North"]}),
        ("the most deprived tenth", {"imd_band": ["0-10%"]}),
    ],
)
def test_value_labels_as_staff_type_them(parser, question, filters):
    assert parser.parse(question).filters == filters


@pytest.mark.parametrize(
    ("question", "averaged", "group_by"),
    [
        ("average online learning activity by region", ["vle_clicks_per_week"], ["region"]),
        ("forum posts on average by age group?", ["forum_posts"], ["age_band"]),
        ("mean study load (credits) by region", ["studied_credits"], ["region"]),
        ("average number of previous attempts by deprivation", ["num_prev_attempts"], ["imd_band"]),
        # the count column is the breakdown here, not a quantity to average
        ("average risk by previous attempts", [], ["num_prev_attempts"]),
        ("mean risk across qualification levels", [], ["highest_education"]),
    ],
)
def test_quantities_to_average_and_breakdowns(parser, question, averaged, group_by):
    parsed = parser.parse(question)
    assert parsed.numeric_columns == averaged
    assert parsed.group_by == group_by
    assert not parsed.counts  # "average number of" is not a count


@pytest.mark.parametrize(
    ("question", "budget"),
    [
        ("plan for fifty thousand pounds in London", 50_000),
        ("a plan with twenty-five thousand", 25_000),
        ("I've got 15,000 left in the budget, how should I spend it", 15_000),
        ("plan for 10,000 in the midlands", 10_000),
        ("plan with £8k", 8_000),
    ],
)
def test_sums_of_money_as_written(parser, question, budget):
    assert parser.parse(question).budget == budget


def test_values_after_only_are_the_scope_not_groups(parser):
    parsed = parser.parse("share at high risk by age band, only for London or the South East")
    assert parsed.filters["region"] == ["London", "South East"]
    assert parsed.group_by == ["age_band"]
    assert parser.parse("risk in London vs the South East").group_by == ["region"]


def test_names_with_underscores_read_as_words(parser):
    parsed = parser.parse("share_high by sex and age_band")
    assert parsed.metrics[0] == "share_high" and parsed.group_by == ["sex", "age_band"]


@pytest.mark.parametrize(
    ("question", "absent"),
    [
        ("what's their ethnicity and religion?", ["ethnicity", "religion"]),
        ("how does risk differ by household income", ["household income"]),
        ("risk by region", []),  # "religion" is never corrected into "region", nor the reverse
        ("risk by deprivation band", []),
    ],
)
def test_what_the_data_does_not_hold_is_named(parser, question, absent):
    assert parser.parse(question).absent == absent


def test_scopes_are_said_in_the_spec_words(parser):
    from assistant.render import scope_text

    lexicon = parser.lexicon
    said = scope_text({"filters": {"imd_band": ["0-10%"], "region": ["Wales"]}}, lexicon)
    assert said == "students with deprivation band: the most deprived tenth and region Wales"


def test_listing_by_a_protected_value_is_refused_by_its_name(parser):
    from assistant.planner import Planner
    from assistant.types import ConversationState

    plan = Planner(parser.lexicon).plan(
        parser.parse("list the female students in London by risk"), ConversationState()
    )
    assert plan.refusal is not None and plan.refusal.kind == "protected"
    assert "by sex:" in plan.refusal.message and "age band" not in plan.refusal.message


@pytest.fixture(scope="module")
def with_flags() -> Parser:
    """The higher-ed spec with two yes/no columns of its own added (it has none), so the verbs
    of having and taking part are checked on words the built-in vocabulary never saw."""
    import yaml

    from data.spec import DatasetSpec

    raw = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    raw["columns"] += [
        {"name": "has_bursary", "dtype": "bool", "role": "context", "label": "bursary"},
        {"name": "in_choir", "dtype": "bool", "role": "context", "label": "choir"},
    ]
    spec = DatasetSpec.model_validate(raw)
    names = {iv.name: iv.title for iv in load_catalogue(load_spec(SPEC)).interventions}
    return Parser(build_lexicon(spec, names, 7, known_ids=lambda ids: set()))


@pytest.mark.parametrize(
    ("question", "filters"),
    [
        ("students who hold a bursary", {"has_bursary": [1]}),
        ("learners not getting a bursary", {"has_bursary": [0]}),
        ("students who don't receive any bursary in wales", {"has_bursary": [0],
                                                             "region": ["Wales"]}),
        ("students not doing choir", {"in_choir": [0]}),
        ("students who attend choir", {"in_choir": [1]}),
    ],
)  # fmt: skip
def test_verbs_of_having_and_taking_part_set_a_yes_no_column(with_flags, question, filters):
    assert with_flags.parse(question).filters == filters


@pytest.mark.parametrize(
    ("question", "group_by", "filters"),
    [
        # "whether they have …" compares the yes and the no, like "with or without"
        ("average risk by region, split by whether students have a bursary", ["region",
                                                                              "has_bursary"], {}),
        ("outcome rate with or without choir", ["in_choir"], {}),
        # the breakdown said last wins over the "who attend choir" that opened the question
        ("do the learners who attend choir do better? outcome rate by choir", ["in_choir"], {}),
        ("students not doing choir in wales", [], {"in_choir": [0], "region": ["Wales"]}),
    ],
)  # fmt: skip
def test_whether_and_a_named_breakdown_compare_a_yes_no_column(with_flags, question, group_by,
                                                               filters):  # fmt: skip
    parsed = with_flags.parse(question)
    assert parsed.group_by == group_by
    # a breakdown's own values are not a scope (the planner leaves them out of the filters)
    assert {k: v for k, v in parsed.filters.items() if k not in group_by} == filters
    assert not parsed.student_ref  # "whether the student has …" names no student


@pytest.fixture(scope="module")
def priced() -> Parser:
    """The higher-ed spec with its catalogue's costs, as the assistant builds its lexicon."""
    spec = load_spec(SPEC)
    catalogue = load_catalogue(spec).interventions
    names = {iv.name: iv.title for iv in catalogue}
    costs = {iv.name: iv.cost_per_student for iv in catalogue}
    return Parser(build_lexicon(spec, names, 7, known_ids=lambda ids: set(), costs=costs))


def test_a_cost_per_student_caps_the_interventions_not_the_budget(priced):
    costs = priced.lexicon.costs
    cap = sorted(costs.values())[len(costs) // 2]
    within = [name for name, cost in costs.items() if cost <= cap]
    assert 0 < len(within) < len(costs)
    parsed = priced.parse(f"which interventions costing under ${cap:g} per student would help?")
    assert parsed.cost_cap == cap and parsed.budget is None
    assert parsed.interventions == within
    # beside a budget: the budget plans, the cap chooses what it may buy
    parsed = priced.parse(f"plan $20k with only programmes under ${cap:g} a student")
    assert parsed.budget == 20_000 and parsed.interventions == within
    # a budget alone is still a budget
    parsed = priced.parse(f"plan a budget of ${cap:g} for everyone")
    assert parsed.budget == cap and parsed.cost_cap is None and parsed.interventions == []


def test_a_cap_nothing_meets_is_said_back(priced):
    cheapest = min(priced.lexicon.costs.values())
    parsed = priced.parse(f"what costs less than ${cheapest / 2:g} per learner?")
    assert parsed.problems and f"${cheapest:,.0f}" in parsed.problems[0]


def test_an_excluded_column_is_known_by_its_label_as_people_vary_it():
    """A column the data contract excludes is named back, never silently ignored, however its
    label is worded: articles left out, the last word in the plural."""
    import yaml

    from data.spec import DatasetSpec

    raw = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    raw["columns"].append(
        {"name": "faith_code", "dtype": "string", "role": "excluded", "label": "a faith group"}
    )
    spec = DatasetSpec.model_validate(raw)
    lexicon = build_lexicon(spec, {}, 7, known_ids=lambda ids: set())
    (term,) = [t for t in lexicon.excluded_terms if t.column == "faith_code"]
    for question in ("list students by faith groups", "which faith group is riskiest"):
        assert term.pattern.search(question), question
    assert not term.pattern.search("students by group")


@pytest.mark.parametrize(
    "question",
    [
        "plan $40k, but cap study coaching at 30 learners",
        "plan $40k; at most 30 students in study coaching",
        "plan $40k - study coaching can take 30",
    ],
)
def test_a_capacity_caps_one_intervention_without_restricting_the_plan_to_it(parser, question):
    parsed = parser.parse(question)
    assert parsed.capacity == {"study_coaching": 30}
    assert parsed.interventions == [] and parsed.budget == 40_000


@pytest.mark.parametrize(
    ("question", "column"),
    [
        # a label's words in another order, with words between them
        ("mean learning activity online by region", "vle_clicks_per_week"),
        ("average of the submitted assessments by region", "assessments_submitted_share"),
    ],
)
def test_a_label_said_in_other_words_order_is_the_column(parser, question, column):
    assert column in parser.parse(question).mentioned_columns


def test_words_of_two_labels_are_not_merged_into_one(parser):
    # "previous attempts at the module" and "credits studied this term": nothing is rewritten
    # when another label's word sits among the words
    text = parser.parse("previous credits and attempts by region").text
    assert "previous attempts at the module" not in text


@pytest.mark.parametrize(
    "question",
    ["withdrawn rate by region", "how does the final result differ by region", "fails by region"],
)
def test_the_outcome_is_named_by_the_spec_s_own_rule(parser, question):
    assert "outcome_rate" in parser.parse(question).metrics


@pytest.mark.parametrize(
    ("question", "budget"),
    [
        ("plan with half a million", 500_000),
        ("if I had two hundred grand, how would you spread it", 200_000),
        ("plan for one and a half million pounds", 1_500_000),
        ("plan with three hundred and fifty thousand", 350_000),
        ("the grand total of learners", None),
    ],
)
def test_sums_spelt_out(parser, question, budget):
    assert parser.parse(question).budget == budget


@pytest.fixture(scope="module")
def ask(parser):
    """Plan a dialogue: each turn against the state the turn before left (as the offline
    backend carries it: the steps' scope, budget and list)."""
    from assistant.offline import next_state
    from assistant.planner import Planner
    from assistant.types import ConversationState

    planner = Planner(parser.lexicon)

    def ask(*turns: str):
        state, plan = ConversationState(), None
        for turn in turns:
            parsed = parser.parse(turn)
            plan = planner.plan(parsed, state)
            state = next_state(plan, state, parsed.budget, None, bool(plan.steps))
            found = [s for s in plan.steps if s.tool.name == "find_students"]
            if found:  # as if the list came back full
                state.listed = [f"X{i}" for i in range(found[0].arguments["limit"])]
                state.next_offset = found[0].arguments.get("offset", 0) + len(state.listed)
        return plan

    return ask


def test_the_next_page_of_a_list_continues_where_it_stopped(ask):
    plan = ask("list the riskiest learners in wales", "show me the next 5")
    (step,) = plan.steps
    assert step.arguments == {"filters": {"region": ["Wales"]}, "limit": 5, "offset": 10}
    plan = ask("list the riskiest learners in wales", "next 5", "more please")
    assert plan.steps[0].arguments["offset"] == 15
    assert ask("show me the next 25").clarify is not None  # no list to continue


@pytest.mark.parametrize(
    ("turn", "budget"),
    [
        ("what if we had twice that?", 80_000),
        ("and with half as much?", 20_000),
        ("what about another £10k", 50_000),
        ("what if we had £10k more", 50_000),
    ],
)
def test_a_budget_said_against_the_last_one(ask, turn, budget):
    plan = ask("plan £40k of support for learners in wales", turn)
    (step,) = plan.steps
    assert step.tool.name == "plan_interventions"
    assert step.arguments["budget"] == budget
    assert step.arguments["filters"] == {"region": ["Wales"]}


def test_a_label_s_own_words_with_one_it_shares_name_the_column():
    """ "science score" is "science test score" when "test" and "score" belong to several
    labels and "science" to one (a spec of the district's own, not the built-in)."""
    import yaml

    from data.spec import DatasetSpec

    raw = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    raw["columns"] += [
        {"name": "exam_art", "dtype": "float", "role": "context", "label": "art exam mark"},
        {"name": "exam_music", "dtype": "float", "role": "context", "label": "music exam mark"},
    ]
    parser = Parser(build_lexicon(DatasetSpec.model_validate(raw), {}, 7))
    assert parser.parse("average music mark by region").numeric_columns == ["exam_music"]
    assert parser.parse("average art marks by region").numeric_columns == ["exam_art"]
    assert parser.parse("average mark by region").numeric_columns == []  # which one is not said


def test_how_many_of_them_is_the_size_of_the_list(parser):
    assert parser.parse("show me the learners in wales, like 15 of them").limit == 15


def test_an_intervention_that_switches_a_column_on_scopes_to_those_without_it():
    """A spec of the district's own: a yes/no column and a programme that sets it."""
    import yaml

    from assistant.lexicon import switches_of
    from data.catalogue import Intervention
    from data.spec import DatasetSpec

    raw = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    raw["columns"] += [
        {"name": "has_laptop", "dtype": "bool", "role": "actionable", "label": "own laptop"}
    ]
    spec = DatasetSpec.model_validate(raw)
    loan = Intervention.model_validate(
        {"name": "laptop_loan", "title": "Laptop loan", "moves": {"has_laptop": {"set": 1}},
         "cost_per_student": 400, "evidence": "-", "causal_note": "-"}
    )  # fmt: skip
    switches = switches_of(spec, [loan])
    assert switches == {"laptop_loan": ("has_laptop", 1)}
    parser = Parser(build_lexicon(spec, {"laptop_loan": "Laptop loan"}, 7, switches=switches))
    parsed = parser.parse("would a laptop loan help the learners who don't have one?")
    assert parsed.interventions == ["laptop_loan"] and parsed.filters == {"has_laptop": [0]}
    assert (
        parser.parse("would a laptop loan help the learners in wales?").filters.get("has_laptop")
        is None
    )


@pytest.mark.parametrize(
    ("question", "scope", "rule", "of_money"),
    [
        ("plan £40k of support for learners in wales, at least 30 % of those we treat have to "
         "come from the most deprived tenth", {"region": ["Wales"]},
         {"attribute": "imd_band", "min_share": {"0-10%": 0.3}}, False),
        ("plan £40k with at least 25 percent of the money going to learners in scotland",
         {}, {"attribute": "region", "min_share": {"Scotland": 0.25}}, True),
    ],
)  # fmt: skip
def test_a_plan_s_equity_rule_said_in_words(parser, ask, question, scope, rule, of_money):
    assert parser.parse(question).equity_of_money is of_money  # said of students treated, or not
    (step,) = ask(question).steps
    assert step.tool.name == "plan_interventions"
    assert step.arguments.get("filters", {}) == scope and step.arguments["equity"] == rule


@pytest.mark.parametrize(
    ("question", "composition", "filters"),
    [
        ("what share of the high-risk students are women?", {"sex": ["F"]},
         {"risk_level": ["High"]}),
        ("what percentage of students in wales are over 55?", {"age_band": ["55<"]},
         {"region": ["Wales"]}),
        ("how many of the high risk learners are in the north?", {"region": ["North"]},
         {"risk_level": ["High"]}),
    ],
)  # fmt: skip
def test_the_make_up_of_a_scope_in_the_spec_words(parser, question, composition, filters):
    from assistant.planner import Planner
    from assistant.types import ConversationState

    plan = Planner(parser.lexicon).plan(parser.parse(question), ConversationState())
    assert plan.composition == composition
    column = next(iter(composition))
    assert [(s.tool.name, s.arguments) for s in plan.steps] == [
        ("query_equity", {"metric": "mean_risk", "group_by": [column], "filters": filters})
    ]


def test_a_rate_asked_of_no_group_is_everyone_s_in_the_spec_words(parser):
    from assistant.planner import Planner
    from assistant.types import ConversationState

    plan = Planner(parser.lexicon).plan(
        parser.parse("what percentage of learners are at high risk?"), ConversationState()
    )
    assert [(s.tool.name, s.arguments) for s in plan.steps] == [
        ("query_equity", {"metric": "share_high", "group_by": [], "filters": {}})
    ]


def test_a_capacity_said_as_capped_at_in_the_spec_words(parser):
    parsed = parser.parse("$40k plan, study coaching capped at 30 learners")
    assert parsed.capacity == {"study_coaching": 30} and parsed.interventions == []
