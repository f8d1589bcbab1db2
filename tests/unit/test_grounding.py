"""The grounding guard: which written numbers a turn's tool outputs support."""

import pytest

from assistant.grounding import numbers_in_text, ungrounded_numbers
from assistant.types import ToolCall
from tools.base import ToolOutput


class Figures(ToolOutput):
    """A tool output with a number of each kind the guard reads."""

    risk: float
    n: int
    cost: float
    change: float
    phrase: str


CALLS = [
    ToolCall(
        name="compare_interventions",
        arguments={"budget": 50000, "student_ids": ["S0000042"]},
        output=Figures(risk=0.9782, n=1135, cost=2810.53, change=-0.09609,
                       phrase="Low attendance (56 %)", model_version="3",
                       data_timestamp="2026-11-27T21:26:48+00:00"),
    )
]  # fmt: skip


def test_numbers_are_read_as_written():
    text = "S0000042: 97.8 %, 1,135 students, $2,810.53 each, -9.6 points, 50k, Q1, p95"
    assert numbers_in_text(text) == ["97.8", "1,135", "2,810.53", "-9.6", "50k"]


@pytest.mark.parametrize(
    "text",
    [
        "risk 97.8 %",  # a share shown as a percentage, rounded
        "risk 98 %",
        "risk 0.98",
        "1,135 students",
        "$2,810.53 per student",
        "down 9.6 points",  # an absolute change in points
        "attendance 56 %",  # a number inside a tool's phrase
        "a budget of $50,000 (50k)",  # the arguments count too
        "S0000042 on 2026-11-27",
    ],
)
def test_grounded(text):
    assert ungrounded_numbers(text, CALLS) == []


@pytest.mark.parametrize(
    ("text", "invented"),
    [
        ("risk 97.9 %", ["97.9"]),
        ("risk 42 % and 1,136 students", ["42", "1,136"]),
        ("cost $2,810.54", ["2,810.54"]),
        ("about 60k", ["60k"]),
    ],
)
def test_invented_numbers_are_caught(text, invented):
    assert ungrounded_numbers(text, CALLS) == invented


def test_no_tool_output_grounds_nothing():
    assert ungrounded_numbers("3 students", []) == ["3"]


def test_a_probability_at_the_extremes_is_a_bound_not_a_certainty():
    from assistant.render import risk_pct

    assert risk_pct(0.9987) == "above 99 %" and risk_pct(0.0004) == "below 1 %"
    assert risk_pct(0.5) == "50.0 %" and risk_pct(0.99) == "99.0 %"
    # the bound's words are the renderer's, never an ungrounded number
    assert numbers_in_text("S1 is at High risk (estimated above 99 %).") == []
    assert numbers_in_text("between below 1 % and 3.5 %") == ["3.5"]


def test_a_fact_at_the_extremes_holds_when_written_as_its_bound():
    from evals.gold import Fact
    from evals.scoring import _bounded

    risk = Fact(sql="SELECT risk_score FROM scores WHERE student_id = 'S1'", scale=100.0)
    assert _bounded(risk, 0.0004, "S1 has an estimated risk of below 1 % (Low).")
    assert _bounded(risk, 0.9987, "estimated above 99 %")
    assert not _bounded(risk, 0.0004, "S1 has an estimated risk of 0.5 %")
    share = Fact(sql="SELECT avg(x) FROM scores", scale=100.0)
    assert not _bounded(share, 0.004, "below 1 %")  # only a student's probability is bounded


def test_the_near_sources_decide_as_all_of_them_would():
    """Grounding looks only at the sources in a written number's rounding window (and reads a
    tool output's numbers from its JSON in one pass): it must agree with checking every source,
    for numbers written with 0–3 decimals, as percentages, and as 50k / 1.5M."""
    import json
    import random

    from assistant.grounding import (
        _grounded,
        _matches,
        _sources,
        numbers_in,
        numbers_in_json,
        written_value,
    )

    rng = random.Random(7)
    values = [rng.choice([1, -1]) * rng.random() * 10 ** rng.randint(-4, 7) for _ in range(400)]
    data = {"rows": [{"id": f"S{i:07d}", "v": v, "flag": i % 2 == 0} for i, v in enumerate(values)],
            "note": "drawn 2026-12-07, 3.5 % above 50k"}  # fmt: skip
    assert sorted(set(numbers_in(data))) == sorted(set(numbers_in_json(json.dumps(data))))
    sources = _sources([ToolCall(name="x", arguments={"budget": 50000.0}, output=None)])
    sources = sorted({*sources, *(abs(round(n, 10)) for n in numbers_in(data))})
    written = [f"{v * s:.{d}f}" for v in values[:150] for s in (1, 100) for d in range(4)]
    written += [f"{abs(v) / 1e3:.0f}k" for v in values[150:250]] + ["1.5M", "7", "0.04", "49k"]
    written += [
        f"{rng.random() * 10 ** rng.randint(0, 5):.{rng.randint(0, 3)}f}" for _ in range(400)
    ]
    for text in written:
        value, decimals = written_value(text)
        everywhere = any(_matches(value, decimals, s) for s in sources)
        assert _grounded(value, decimals, sources) == everywhere, text


def test_a_student_named_in_the_text_must_be_one_this_turn_asked_for_or_returned():
    from assistant.grounding import ungrounded_ids

    text = "S0000042 and s0000042 are the same; S0000099 and S00000420 were never asked for."
    assert ungrounded_ids(text, CALLS, "S") == ["S0000099", "S00000420"]
    assert ungrounded_ids("no student here", CALLS, "S") == []
