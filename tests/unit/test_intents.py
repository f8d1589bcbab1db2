"""The intent rules, one by one: each applies when its cues are there and not otherwise."""

from __future__ import annotations

import pytest

from assistant.intents import GROUP_RULES, STUDENT_RULES, Cues, IntentRule, choose_intents
from assistant.parser import Parse


def parse(text: str = "", intents=(), **slots) -> Parse:
    return Parse(text=text, intents=set(intents), **slots)


# (rule name, question's cues, intents already chosen, applies?)
CASES = {
    "plan cue or budget": [
        (parse(intents={"plan"}), [], True),
        (parse(budget=50_000), [], True),
        (parse(intents={"find"}), [], False),
    ],
    "fairness cue or error-rate metric": [
        (parse(intents={"fairness"}), [], True),
        (parse(metrics=["fpr"]), [], True),
        (parse(metrics=["mean_risk"]), [], False),
    ],
    "explain the student": [
        (parse(intents={"explain"}), ["plan"], True),
        (parse(), [], True),  # a bare id: why
        (parse(intents={"score"}), [], False),
        (parse(), ["plan"], False),
        # "compare the interventions for S1" asks for the comparison alone
        (parse("compare the interventions", intents={"compare"}), [], False),
    ],
    "score the student": [
        (parse(intents={"score"}), [], True),
        (parse(intents={"score"}), ["explain"], False),
    ],
    "help the student": [
        (parse(intents={"help"}), [], True),
        (parse(interventions=["tutoring"]), [], True),
        (parse(interventions=["tutoring"]), ["plan"], False),
        (parse("compare the interventions", intents={"compare"}), [], True),
        (parse(intents={"score"}), [], False),
    ],
    "a list beside the students": [
        (parse(intents={"find"}, filters={"Locale": ["Town"]}), [], True),
        (parse(intents={"find"}, limit=5), [], True),
        (parse(intents={"find"}), [], False),
        # "why is S1 flagged as at risk" names a level, not another list
        (parse(intents={"find"}, filters={"risk_level": ["High"]}), [], False),
    ],
    "compare interventions": [
        (parse(interventions=["mentoring"]), [], True),
        (parse("compare the programs", intents={"compare"}), [], True),
        (parse("compare rural and urban", intents={"compare"}), [], False),
        (parse(intents={"help"}), ["plan"], False),
    ],
    "equity summary": [
        (parse(intents={"summary"}), [], True),
        (parse(intents={"summary", "equity"}, group_by=["Locale"]), [], False),
    ],
    "a summary covers fairness": [
        (parse(intents={"fairness"}), ["summary", "fairness"], True),
        (parse(metrics=["tpr"]), ["summary", "fairness"], False),
        (parse(group_by=["Gender"]), ["summary", "fairness"], False),
        (parse(intents={"fairness"}), ["fairness"], False),
    ],
    "equity by group": [
        (parse(intents={"equity"}, group_by=["Locale"]), [], True),
        (parse(intents={"compare"}, filters={"Locale": ["Rural"]}), [], True),
        (parse(metrics=["mean_risk"], group_by=["Gender"]), [], True),
        (parse(intents={"equity"}, group_by=["Locale"]), ["summary"], False),
        # "the summary, and the mean clicks by band": both
        (
            parse(group_by=["Locale"], mentioned_columns=["Clicks"], numeric_columns=["Clicks"]),
            ["summary"],
            True,
        ),
        (parse(intents={"equity"}, group_by=["Locale"]), ["fairness"], False),
        (parse(intents={"equity"}, interventions=["tutoring"]), [], False),
        (parse(intents={"find"}, filters={"Locale": ["Rural"]}), [], False),
    ],
    "a count is not a gap": [
        # a count beside a list is the list's count; a count asked alone is a share and count
        (parse("how many high-risk seniors, and who are the top 3?", intents={"find"},
               counts=True), ["equity"], True),
        (parse(intents={"find"}, counts=True), ["equity"], False),
        (parse(intents={"find"}, counts=True, group_by=["Locale"]), ["equity"], False),
        (parse(intents={"find"}), ["equity"], False),
    ],
    "list students": [
        (parse(intents={"find"}), [], True),
        (parse(intents={"find"}), ["compare"], False),
        (parse("who are the riskiest, and what would help", intents={"find"}), ["compare"], True),
        (parse(intents={"find"}, group_by=["Locale"]), ["equity"], False),
    ],
    "the model": [
        (parse(intents={"model"}), [], True),
        (parse("how accurate is it across groups", intents={"model"}), ["fairness"], True),
        (parse("is it fair", intents={"model"}), ["fairness"], False),
    ],
    "scores of a cohort": [
        (parse(intents={"score"}), [], True),
        (parse(intents={"score"}), ["find"], False),
    ],
}
COHORT = {"scores of a cohort"}  # rules that read whether the question names a cohort
RULES = {rule.name: rule for rule in (*STUDENT_RULES, *GROUP_RULES)}


def _applies(rule: IntentRule, parsed: Parse, chosen: list[str]) -> bool:
    cues = Cues(parsed, about_students=rule in STUDENT_RULES, cohort=rule.name in COHORT)
    after = list(chosen)
    rule.apply(cues, after)
    return after != chosen


def test_every_rule_has_cases():
    assert set(CASES) == set(RULES)


@pytest.mark.parametrize(
    ("name", "parsed", "chosen", "expected"),
    [(name, *case) for name, cases in CASES.items() for case in cases],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_rule(name, parsed, chosen, expected):
    assert _applies(RULES[name], parsed, chosen) is expected


def test_capabilities_alone_is_its_own_intent():
    assert choose_intents(parse(intents={"capabilities"}), False, False) == ["capabilities"]
    mixed = parse(intents={"capabilities", "find"})
    assert choose_intents(mixed, False, False) == ["find"]


def test_the_rules_run_in_order_and_see_what_came_before():
    # A plan with a budget names no comparison, although interventions are named.
    asked = parse(intents={"plan"}, interventions=["tutoring"], budget=20_000)
    assert choose_intents(asked, False, False) == ["plan"]
    # About a student: explain, then what would help.
    assert choose_intents(parse(intents={"help", "explain"}), True, False) == [
        "explain",
        "help_student",
    ]
    # "how many high-risk students in grade 9, and who are they?": a count of a list, not a gap
    counted = parse("how many high-risk students in grade 9, and who are they?",
                    intents={"find", "equity"}, counts=True, filters={"Grade": [9]})  # fmt: skip
    assert choose_intents(counted, False, True) == ["find"]
