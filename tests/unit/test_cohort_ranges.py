"""A range on a number column as a filter ({"lt": 0.85}): validated against the spec, written
as bound parameters, and read from questions, on the built-in spec and the higher-ed one."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.lexicon import build_lexicon
from assistant.parser import Parser
from data.spec import load_spec
from tools.cohort import describe_filters, validate_filters, where_clause
from tools.errors import InvalidInput

HIGHER_ED = load_spec(Path(__file__).resolve().parents[2] / "data" / "specs" / "higher_ed.yaml")


def test_a_range_is_bound_parameters_never_text():
    where, params = where_clause(HIGHER_ED, {"studied_credits": {"gte": 60, "lt": 120},
                                             "region": ["Wales"]})  # fmt: skip
    assert where == (
        'WHERE s."studied_credits" >= ? AND s."studied_credits" < ? AND '
        's."region" IN (SELECT unnest(?))'
    )
    assert params == [60.0, 120.0, ["Wales"]]
    # a list of one range, as the assistant writes it, is the same range
    assert validate_filters(HIGHER_ED, {"studied_credits": [{"gt": 60}]}) == {
        "studied_credits": {"gt": 60.0}
    }
    assert describe_filters({"studied_credits": {"gt": 60.0}}) == "studied_credits > 60"


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"region": {"lt": 3}}, "filters.region: a range needs a number column"),
        ({"studied_credits": {"below": 3}}, "filters.studied_credits: a range has bounds"),
        ({"studied_credits": {"lt": "many"}}, "filters.studied_credits.lt: 'many' must be"),
        ({"studied_credits": {"lt": float("nan")}}, "must be a finite number"),
        ({"studied_credits": {}}, "filters.studied_credits: a range has bounds"),
    ],
)
def test_a_bad_range_names_the_field_value_and_rule(filters, message):
    with pytest.raises(InvalidInput) as raised:
        validate_filters(HIGHER_ED, filters)
    assert message in raised.value.message


@pytest.fixture(scope="module")
def higher_ed() -> Parser:
    return Parser(build_lexicon(HIGHER_ED, {}, 7, known_ids=lambda ids: set()))


@pytest.mark.parametrize(
    ("question", "filters"),
    [
        # a percent column stores a share: 50 % is 0.5
        ("learners with assessments submitted below 50%", {"assessments_submitted_share":
                                                            [{"lt": 0.5}]}),
        ("list learners with under 40 percent of assessments submitted in wales",
         {"assessments_submitted_share": [{"lt": 0.4}], "region": ["Wales"]}),
        ("learners with more than 60 credits", {"studied_credits": [{"gt": 60.0}]}),
        ("students with at least 2 previous attempts", {"num_prev_attempts": [{"gte": 2.0}]}),
    ],
)  # fmt: skip
def test_a_bound_in_words_is_a_range(higher_ed, question, filters):
    assert higher_ed.parse(question).filters == filters


def test_a_bound_on_the_built_in_spec(builtin_lexicon):
    parsed = Parser(builtin_lexicon).parse("high risk kids with attendance under 90 percent")
    assert parsed.filters == {"AttendanceRate": [{"lt": 0.9}], "risk_level": ["High"]}
