"""Ids as districts write them: the parser recognises the ids the warehouse holds, verbatim
(numeric, with letters, dashes or a composite key), never rewrites them into a pattern, and
reports an unknown id as typed."""

from __future__ import annotations

import pytest

from assistant.lexicon import build_lexicon
from assistant.parser import Parser
from data.catalogue import load_catalogue
from data.spec import load_spec

HELD = {"48213", "007731", "AB-1234", "922968-FFF-2024B", "S0000042", "51200", "2311", "100"}


@pytest.fixture(scope="module")
def parse():
    spec = load_spec(None)
    names = {iv.name: iv.title for iv in load_catalogue(spec).interventions}
    lexicon = build_lexicon(spec, names, 7, known_ids=lambda ids: HELD & set(ids))
    return Parser(lexicon).parse


@pytest.mark.parametrize(
    ("question", "ids"),
    [
        ("why is 48213 high risk?", ["48213"]),  # a bare number of 5+ digits the warehouse holds
        ("what about student 007731", ["007731"]),  # leading zeros kept
        ("explain ab-1234 please", ["AB-1234"]),  # typed in lower case
        ("risk of 922968-FFF-2024B?", ["922968-FFF-2024B"]),  # a composite key, one id
        ("why is stduent 48213 at risk", ["48213"]),  # "student" misspelt
        ("compare S42 and student 48213", ["S0000042", "48213"]),
        ("why is student 99999 at risk", ["99999"]),  # unknown: reported as typed
        ("why's 48213 flagged?", ["48213"]),  # the "s" of "why's" is not an id prefix
        ("why is 2311 at risk?", ["2311"]),  # a district's four-digit id
        ("what would help 2311", ["2311"]),
        ("compare 2311 and 48213", ["2311", "48213"]),
        ("scores for 2311, 48213", ["2311", "48213"]),
    ],
)
def test_ids_are_read_as_the_district_writes_them(parse, question, ids):
    assert parse(question).student_ids == ids


@pytest.mark.parametrize(
    "question",
    [
        "top 10 students in grade 9",
        "show the top 100 at-risk kids",  # 100 is an id here, but "top 100" is a count
        "who has over 2311 clicks",
        "100 students with the highest risk",
        "a budget of 1,100 for them",
        "plan a budget of 51200 dollars",
        "plan with $51200",
        "grade 12 at risk",
    ],
)
def test_numbers_that_are_not_ids_stay_numbers(parse, question):
    # 51200 is an id in this warehouse, but written as money it is money: a bare number is an
    # id only when the warehouse holds it and nothing makes it a budget, a limit or a grade.
    assert parse(question).student_ids == []


def test_a_bare_id_the_warehouse_holds_is_still_an_id(parse):
    assert parse("why is 51200 high risk").student_ids == ["51200"]
