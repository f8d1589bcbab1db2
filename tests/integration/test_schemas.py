"""Every surface on schemas SARA was not written for: the `higher-ed` example (numeric ids with
repeat enrolments as a composite key, a category outcome, a 40 % base rate, missing values in an
ordered deprivation band, its own catalogue) and the same data with nothing actionable and no
catalogue — beside the built-in schema, through the same tests. The pipeline runs with the
spec; everything after it (status, the REST API, chat, `sara serve`) runs with no
SARA_SPEC_PATH, from the workspace alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from data.spec import load_spec
from tests.integration.conftest import SPECS, auth, sara_serve
from tests.timeouts import HTTP_TIMEOUT_S

pytestmark = pytest.mark.integration

# Words of the built-in schema that must never reach a user of another one.
BUILT_IN_WORDS = ("SES", "S00000", "tutoring", "Locale", "GPA", "StudentID", "grade 9", "race")
SCHEMAS = ["student_performance", "higher_ed", "higher_ed_no_actions"]
# Gold questions of the other example schemas, in their own words: a regression gate.
GOLD = Path(__file__).resolve().parents[2] / "evals" / "specs"


@pytest.fixture(scope="module", params=SCHEMAS)
def schema(request, schema_workspaces):
    """(name, serving settings, a TestClient on the app, one key per role)."""
    from fastapi.testclient import TestClient

    from api.keys import ROLES, KeyStore
    from api.main import create_app

    name = request.param
    settings = schema_workspaces(name)
    store = KeyStore(settings.keys_path)
    keys = {role: store.create(f"test-{role}", role)[1] for role in ROLES}
    with TestClient(create_app(settings)) as client:
        yield name, settings, client, keys


def _spec(name: str):
    return load_spec(None if name == "student_performance" else SPECS / f"{name}.yaml")


def _ids(client, keys, limit=3) -> list[str]:
    found = client.get("/v1/students", params={"limit": limit}, headers=auth(keys["staff"]))
    assert found.status_code == 200, found.text
    return [s["student_id"] for s in found.json()["students"]]


def _chat(client, keys, question, role="staff", conversation=None) -> dict:
    body = {"question": question, "conversation": conversation}
    answer = client.post("/v1/chat", json=body, headers=auth(keys[role]))
    assert answer.status_code == 200, answer.text
    return answer.json()


def _foreign(name: str, text: str) -> list[str]:
    return [] if name == "student_performance" else [w for w in BUILT_IN_WORDS if w in text]


def test_status_names_the_spec_and_levels_that_fit_the_cohort(schema):
    name, settings, _, _ = schema
    from tools.context import load_context

    ctx = load_context(settings)
    try:
        assert ctx.spec.name == name  # the workspace knows its spec
        share = ctx.sql("SELECT risk_level FROM scores")["risk_level"].value_counts(normalize=True)
        assert share.max() < 0.8, share.to_dict()  # no level takes (nearly) everyone
        base = float(ctx.meta["outcome_base_rate"])
        assert base < ctx.settings.risk_medium_threshold < ctx.settings.risk_high_threshold
    finally:
        ctx.close()
    status = subprocess.run(
        [sys.executable, "-m", "sara.cli", "pipeline", "status"],
        env={"SARA_HOME": str(settings.home), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=HTTP_TIMEOUT_S * 10,
    )
    assert status.returncode == 0, status.stderr
    assert name in status.stdout and "risk levels" in status.stdout
    assert "fairness gate" in status.stdout


def test_every_route_answers_with_the_districts_own_ids(schema):
    name, _, client, keys = schema
    spec = _spec(name)
    staff, analyst = auth(keys["staff"]), auth(keys["analyst"])
    ids = _ids(client, keys)
    student = ids[0]
    if name != "student_performance":
        assert "-" in student and not student.startswith(spec.id_prefix)  # kept as written
    risk = client.get(f"/v1/students/{quote(student, safe='')}/risk", headers=staff)
    assert risk.status_code == 200, risk.text
    assert risk.json()["student_id"] == student
    why = client.get(f"/v1/students/{quote(student, safe='')}/explanation", headers=staff)
    assert why.status_code == 200, why.text
    counterfactual = why.json()["counterfactual"]
    if name == "higher_ed_no_actions":
        assert not counterfactual["found"] and "actionable" in counterfactual["note"]
    equity = [c.name for c in spec.columns if c.equity]
    query = {"metric": "outcome_rate", "group_by": equity[:1]}
    grouped = client.post("/v1/equity/query", json=query, headers=staff)
    assert grouped.status_code == 200, grouped.text
    summary = client.get("/v1/equity/summary", headers=staff)
    assert summary.status_code == 200, summary.text
    covered = [a["attribute"] for a in summary.json()["attributes"]]
    assert covered == [*spec.protected, *equity]  # the declared equity columns, no others
    model = client.get("/v1/model", headers=staff)
    assert model.status_code == 200 and model.json()["fairness_gate"]["verdict"]
    compare = client.post("/v1/interventions/compare", json={"student_ids": ids}, headers=staff)
    plan = client.post(
        "/v1/interventions/plan", json={"budget": 20000, "all_students": True}, headers=analyst
    )
    if name == "higher_ed_no_actions":
        for refused in (compare, plan):
            assert refused.status_code == 409, refused.text
            assert "No interventions are defined" in refused.json()["error"]["message"]
    else:
        assert compare.status_code == 200, compare.text
        names = {r["name"] for r in compare.json()["results"]}
        assert names == {iv.name for iv in _catalogue(spec)}
        assert plan.status_code == 200, plan.text


def _catalogue(spec):
    from data.catalogue import load_catalogue

    return load_catalogue(spec).interventions


def test_chat_answers_every_question_kind_in_the_schemas_own_words(schema):
    name, _, client, keys = schema
    spec = _spec(name)
    student = _ids(client, keys, 1)[0]
    equity = next(c for c in spec.columns if c.equity)
    label = equity.label or equity.name
    asked = {
        "find": "who are the highest-risk students?",
        "score": f"what is the risk score of {student}?",
        "explain": f"why is {student} at risk?",
        "equity": f"how does the outcome differ by {label}?",
        "summary": "are there equity gaps?",
        "model": "how good is the model?",
        "capabilities": "what can you do?",
    }
    answers = {kind: _chat(client, keys, q) for kind, q in asked.items()}
    for kind, answer in answers.items():
        assert answer["outcome"] in ("answered", "clarified"), (kind, answer["text"])
        assert not _foreign(name, answer["text"] + " ".join(answer["follow_ups"])), (kind, answer)
    assert student in answers["score"]["text"] and student in answers["explain"]["text"]
    calls = answers["equity"]["tool_calls"]
    assert calls and calls[0]["arguments"]["group_by"] == [equity.name], calls
    help_answer = _chat(client, keys, f"what would help {student}?")
    plan_answer = _chat(client, keys, "plan interventions for everyone with $20k", "analyst")
    if name == "higher_ed_no_actions":
        for answer in (help_answer, plan_answer):
            assert "No interventions are defined" in answer["text"]
    else:
        titles = [iv.title for iv in _catalogue(spec)]
        assert any(title in help_answer["text"] for title in titles), help_answer["text"]
        assert plan_answer["outcome"] == "answered", plan_answer["text"]
    if name != "student_performance":  # the schema's own synonyms and value labels
        labelled = _chat(client, keys, "outcome rate by deprivation")
        assert labelled["tool_calls"][0]["arguments"]["group_by"] == ["imd_band"]


def _calls(answer: dict) -> list[tuple[str, dict]]:
    return [(c["name"], c["arguments"]) for c in answer["tool_calls"]]


def test_two_asks_in_one_question_are_both_answered_in_the_schemas_words(schema):
    name, _, client, keys = schema
    spec = _spec(name)
    first, second = _ids(client, keys, 2)
    both = _chat(client, keys, f"score {first} and explain {second}")
    assert _calls(both) == [
        ("score_students", {"student_ids": [first]}),
        ("explain_student", {"student_id": second}),
    ], both["text"]
    equity = next(c for c in spec.columns if c.equity)
    label = equity.label or equity.name
    asked = _chat(
        client, keys, f"what's the model's AUC, and how does the outcome differ by {label}?"
    )
    assert [n for n, _ in _calls(asked)] == ["model_info", "query_equity"], asked["text"]
    assert _calls(asked)[1][1]["group_by"] == [equity.name]
    assert not _foreign(name, asked["text"])
    # a list of values is one ask, not two: both values stay in the one scope
    values = (equity.categories or [])[:2]
    if len(values) == 2:
        listed = _chat(client, keys, f"list the high risk students in {values[0]} and {values[1]}")
        calls = _calls(listed)
        assert [n for n, _ in calls] == ["find_students"], listed["text"]
    refused = _chat(
        client, keys, f"change {first}'s record to 95 in the system, it was entered wrong"
    )
    assert refused["outcome"] == "refused" and not refused["tool_calls"], refused["text"]


def test_a_cost_per_student_picks_the_interventions_it_can_buy(schema):
    name, _, client, keys = schema
    spec = _spec(name)
    question = "which interventions costing under $100 per student would help the high risk ones?"
    if name == "higher_ed_no_actions":
        answer = _chat(client, keys, question)
        assert "No interventions are defined" in answer["text"]
        return
    costs = {iv.name: iv.cost_per_student for iv in _catalogue(spec)}
    cap = sorted(costs.values())[len(costs) // 2]
    within = sorted(n for n, c in costs.items() if c <= cap)
    answer = _chat(client, keys, question.replace("$100", f"${cap:g}"))
    assert answer["outcome"] == "answered", answer["text"]
    (call,) = answer["tool_calls"]
    assert call["name"] == "compare_interventions"
    assert sorted(call["arguments"]["interventions"]) == within
    assert call["arguments"]["filters"] == {"risk_level": ["High"]}


def test_sara_serve_needs_no_spec_setting(schema):
    name, settings, client, keys = schema
    if name == "student_performance":
        pytest.skip("the built-in schema is served in test_api_server")
    with sara_serve(settings) as served:
        student = _ids(client, keys, 1)[0]
        risk = httpx.get(
            f"{served.base}/v1/students/{quote(student, safe='')}/risk",
            headers=auth(keys["staff"]),
            timeout=HTTP_TIMEOUT_S,
        )
        assert risk.status_code == 200, risk.text


def test_the_eval_gate_holds_on_the_other_schema(schema):
    name, settings, _, _ = schema
    if name != "higher_ed":
        pytest.skip("the built-in gold sets gate the built-in schema (test_evals)")
    from evals.gold import load_sets
    from evals.harness import run_eval
    from tests.integration.test_evals import assert_gate
    from tools.context import load_context

    ctx = load_context(settings)
    try:
        gate = {
            set_: [i for i in items if i.gate]
            for set_, items in load_sets(folder=GOLD / name).items()
        }
        report = run_eval(settings, ctx, gate)
    finally:
        ctx.close()
    assert_gate(report)


def test_a_record_may_leave_out_a_column_the_spec_lets_be_empty(schema):
    name, settings, client, keys = schema
    spec = _spec(name)
    optional = [c.name for c in spec.columns if not c.required and c.role.value != "id"]
    if not optional:
        pytest.skip("the built-in schema has no optional model input")
    from tools.context import load_context

    ctx = load_context(settings)
    try:
        student = _ids(client, keys, 1)[0]
        row = ctx.students([student]).iloc[0]
        record = {f: row[f] for f in ctx.model.features if f not in optional}
    finally:
        ctx.close()
    record = {k: (v.item() if hasattr(v, "item") else v) for k, v in record.items()}
    scored = client.post("/v1/score", json={"record": record}, headers=auth(keys["staff"]))
    assert scored.status_code == 200, scored.text
    assert scored.json()["students"][0]["risk_level"] in ("Low", "Medium", "High")
