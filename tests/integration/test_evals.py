"""The evaluation harness: it must score a wrong answer wrong, catch an invented number, accept
a correct answer in other words — and the fast gate of the gold sets must hold its thresholds."""

import pytest

import tools
from assistant import Answer
from assistant.grounding import ungrounded_numbers
from assistant.types import ToolCall
from evals.gold import Fact, GoldCall, GoldItem, Resolver, load_sets, resolved
from evals.harness import run_eval
from evals.scoring import normalise, score
from sara.roles import LOCAL
from tools.session import ToolSession

pytestmark = pytest.mark.integration

# The assistant's quality targets, checked on the gate subset (a third of every set).
THRESHOLDS = {"in_distribution": 0.95, "paraphrase": 0.85, "compositional": 0.85,
              "follow_up": 0.85, "refusal": 0.90}  # fmt: skip


@pytest.fixture(scope="module")
def resolver(ctx):
    return Resolver(ctx)


@pytest.fixture(scope="module")
def explained(ctx, resolver):
    """A gold item about the highest-risk student, and the real tool call answering it."""
    item = resolved(
        GoldItem(
            id="t-1", set="in_distribution", source="template", expect="answer",
            question="Why is {student:high:1} high risk?",
            tools=[GoldCall(name="explain_student", arguments={"student_id": "{student:high:1}"})],
            facts=[Fact(text="{student:high:1}"),
                   Fact(sql="SELECT risk_score FROM scores WHERE student_id = '{student:high:1}'",
                        scale=100, decimals=1)],
        ),
        resolver,
    )  # fmt: skip
    student = item.tools[0].arguments["student_id"]
    explained = ToolSession(lambda: ctx, LOCAL).run(tools.explain_student, {"student_id": student})
    output = explained.model_dump(mode="json")
    call = ToolCall(name="explain_student", arguments={"student_id": student}, output=output)
    return item, call, output


def test_a_correct_answer_in_other_words_is_scored_right(explained, resolver):
    item, call, output = explained
    text = (f"Student {output['student_id']} is flagged: the model puts the chance of "
            f"probation at {output['risk_score'] * 100:.1f} %, mostly because of "
            f"{output['top_risk_factors'][0].lower()}.")  # fmt: skip
    result = score(item, Answer(text=text, outcome="answered", tool_calls=[call]), resolver)
    assert result.correct and result.args_ok and result.ungrounded == []


def test_a_wrong_answer_is_scored_wrong(explained, resolver):
    item, call, output = explained
    wrong = f"{output['student_id']} is at High risk, about {output['risk_score'] * 100 - 7:.1f} %."
    result = score(item, Answer(text=wrong, outcome="answered", tool_calls=[call]), resolver)
    assert not result.correct and any("missing number" in p for p in result.problems)
    other = ToolCall(name="score_students", arguments={"student_ids": [output["student_id"]]})
    result = score(item, Answer(text=wrong, outcome="answered", tool_calls=[other]), resolver)
    assert not result.tools_ok and not result.args_ok
    refused = score(item, Answer(text="I can't help with that.", outcome="refused"), resolver)
    assert not refused.correct


def test_a_part_left_out_is_a_silent_drop_unless_it_is_named(explained, resolver):
    item, call, output = explained
    student = output["student_id"]
    two = item.model_copy(update={"question": f"Why is {student} high risk, and what would help?",
                                  "tools": [*item.tools, GoldCall(name="compare_interventions",
                                            arguments={"student_ids": [student]})]})  # fmt: skip
    text = f"{student}: {output['risk_score'] * 100:.1f} % risk."
    dropped = score(two, Answer(text=text, outcome="answered", tool_calls=[call]), resolver)
    assert dropped.silent_drop and "dropped silently" in dropped.problems[-1]
    named = Answer(text=text, outcome="answered", tool_calls=[call], declined=["what would help"])
    assert not score(two, named, resolver).silent_drop
    whole = score(item, Answer(text=text, outcome="answered", tool_calls=[call]), resolver)
    assert not whole.silent_drop  # every part asked was answered
    assert not score(two, Answer(text="Which student?", outcome="clarified"), resolver).silent_drop


def test_an_invented_number_is_caught(explained, resolver):
    item, call, output = explained
    # The output's timestamp counts as numbers too (a publish at 03:23 grounds "23"), so the
    # invented number is the first that nothing in this output grounds.
    invented = next(str(n) for n in range(23, 1000) if ungrounded_numbers(str(n), [call]))
    text = (
        f"{output['student_id']} is at {output['risk_score'] * 100:.1f} % risk and missed "
        f"{invented} days this term."
    )
    result = score(item, Answer(text=text, outcome="answered", tool_calls=[call]), resolver)
    assert result.ungrounded == [invented]


def test_argument_match_ignores_order_and_scalar_spelling():
    a = normalise("find_students", {"filters": {"Grade": 9, "Locale": ["Rural"]}, "limit": 10})
    b = normalise("find_students", {"limit": 10.0, "filters": {"Locale": "Rural", "Grade": [9]}})
    assert a == b
    assert a != normalise("find_students", {"filters": {"Grade": [10], "Locale": ["Rural"]},
                                            "limit": 10})  # fmt: skip


def test_the_gold_sets_are_large_enough_and_well_formed():
    sets = load_sets()
    assert sum(len(items) for items in sets.values()) >= 300
    for name, items in sets.items():
        assert {i.source for i in items} >= {"template", "hand"}, name
        assert len({i.id for i in items}) == len(items)


def test_the_gate_holds_the_thresholds(published, ctx, tmp_path):
    gate = {name: [i for i in items if i.gate] for name, items in load_sets().items()}
    report = run_eval(published, ctx, gate)
    assert_gate(report)
    assert report["overall"]["refusal_precision"] >= 0.9


def assert_gate(report: dict) -> None:
    """Every set of ``report`` at or above its threshold, no ungrounded number and no part of
    a question dropped silently."""
    for name, floor in THRESHOLDS.items():
        m = report["sets"][name]
        wrong = [(r["id"], r["problems"]) for r in report["items"]
                 if r["set"] == name and not r["correct"]]  # fmt: skip
        assert m["answer_correctness"] >= floor, (name, m, wrong)
    assert report["overall"]["ungrounded_numbers"] == 0
    assert report["overall"]["silent_drops"] == 0, [
        (r["id"], r["problems"]) for r in report["items"] if r["silent_drop"]
    ]


def test_sara_eval_writes_the_report(published, monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from sara.cli import app
    from sara.settings import get_settings

    monkeypatch.setenv("SARA_HOME", str(published.home))
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["eval", "--set", "refusal", "--gate", "--out", str(tmp_path)])
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    reports = sorted(p.name for p in tmp_path.iterdir())
    assert len(reports) == 2 and reports[0].endswith("-offline.json")
    assert "refusal" in (tmp_path / reports[1]).read_text()
    bad = CliRunner().invoke(app, ["eval", "--set", "nonsense"])
    assert bad.exit_code == 1 and "in_distribution" in bad.output
