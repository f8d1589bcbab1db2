"""One protected-attribute policy on every surface: students are never listed, ranked or
selected by a protected column — over REST, through the tools, in the chat — while groups may
still be compared by one. Run on the built-in schema and the higher-ed example."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

import tools
from api.keys import KeyStore
from api.main import create_app
from tests.integration.conftest import auth
from tools.context import load_context
from tools.errors import Forbidden
from tools.session import Caller, ToolSession

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=["student_performance", "higher_ed"])
def served(request, schema_workspaces):
    settings = schema_workspaces(request.param)
    ctx = load_context(settings)
    staff = KeyStore(settings.keys_path).create(f"policy-staff-{request.param}", "analyst")[1]
    with TestClient(create_app(settings)) as client:
        yield ctx, client, staff
    ctx.close()


def protected_value(ctx) -> tuple[str, object]:
    column = ctx.spec.column(ctx.spec.protected[0])
    value = ctx.sql(f'SELECT "{column.name}" AS v FROM students WHERE "{column.name}" IS NOT NULL '
                    "LIMIT 1")["v"].iloc[0]  # fmt: skip
    return column.name, value.item() if hasattr(value, "item") else value


def test_rest_lists_no_students_by_a_protected_column(served):
    ctx, client, key = served
    column, value = protected_value(ctx)
    got = client.get("/v1/students", params={column: str(value)}, headers=auth(key))
    assert got.status_code == 403, got.text
    error = got.json()["error"]
    assert error["field"] == "filters" and error["value"] == [column]
    assert "won't list, rank or select" in error["message"]
    # The same route with a filter that is not protected still lists.
    assert client.get("/v1/students", params={"level": "High"}, headers=auth(key)).status_code in (
        200,
        422,  # no High student in a small cohort is bad input, not a refusal
    )


def test_the_tools_refuse_selection_and_allow_comparison(served):
    ctx, _, _ = served
    column, value = protected_value(ctx)
    session = ToolSession(lambda: ctx, Caller("k", "analyst", "analyst"))
    with pytest.raises(Forbidden, match="won't list, rank or select"):
        session.run(tools.find_students, {"filters": {column: value}})
    if ctx.catalogue is not None:
        with pytest.raises(Forbidden, match="won't list, rank or select"):
            session.run(tools.plan_interventions, {"budget": 1000, "filters": {column: value}})
    compared = session.run(tools.query_equity, {"metric": "mean_risk", "group_by": [column]})
    assert compared.rows


def test_the_chat_refuses_with_the_same_words(served):
    ctx, client, key = served
    column, value = protected_value(ctx)
    words = ctx.spec.column(column).words_for(value) or str(value)
    answer = client.post(
        "/v1/chat",
        json={"question": f"list the {words} students with the highest risk"},
        headers=auth(key),
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["outcome"] == "refused", body["text"]
    assert "won't list, rank or select" in body["text"]


def test_free_sql_lists_no_students_selected_or_ranked_by_a_protected_column(served):
    ctx, _, _ = served
    column, value = protected_value(ctx)
    session = ToolSession(lambda: ctx, Caller("k", "analyst", "analyst"))
    key = ctx.id_column
    literal = f"'{value}'" if isinstance(value, str) else str(value)
    for sql in (
        f'SELECT "{key}" AS who FROM students WHERE "{column}" = {literal} LIMIT 5',
        f'SELECT s."{key}", c.risk_score FROM students s JOIN scores c ON s."{key}" = '
        f'c.student_id ORDER BY s."{column}", c.risk_score DESC LIMIT 5',
        f'SELECT upper("{key}") FROM students QUALIFY row_number() OVER '
        f'(PARTITION BY "{column}") <= 2',
    ):
        with pytest.raises(Forbidden, match="won't list, rank or select"):
            session.run(tools.run_sql, {"sql": sql})
    # Counts by the protected column show no student: an aggregate, allowed.
    counted = session.run(
        tools.run_sql, {"sql": f'SELECT "{column}", count(*) FROM students GROUP BY 1'}
    )
    assert counted.row_count >= 1
