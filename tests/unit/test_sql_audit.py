"""Which students a free SQL result is logged with: ids are found by value, not only under a
column named like an id, so an alias, a change of case or an id rebuilt by concatenation still
names the student in the audit log; what cannot be attributed (an id inside a longer string,
hashed, or rows that show no id) is pinned here too, as tools/sql_guard.py documents it."""

from __future__ import annotations

import json

import pytest

from api.audit import AuditLog, audit_observer
from api.errors import status_of
from tests.unit.tiny_warehouse import call
from tools import TOOLS_BY_NAME
from tools.session import Caller, ToolSession


@pytest.fixture(scope="module")
def ids(tiny_ctx) -> list[str]:
    """The first three ids of the tiny warehouse, in order."""
    column = f'"{tiny_ctx.id_column}"'
    rows = tiny_ctx.connection().execute(f"SELECT {column} FROM students ORDER BY 1 LIMIT 3")
    return [row[0] for row in rows.fetchall()]


def read(ctx, sql: str) -> list[str]:
    """The students a run_sql call on ``sql`` declares it read."""
    return TOOLS_BY_NAME["run_sql"].students(None, call(ctx, "run_sql", sql=sql), ctx.id_column)


ATTRIBUTED = [
    # (query, which of the first three ids it is logged with), {id} is the id column
    ("SELECT {id} AS sid FROM students WHERE {id} = '{a}'", "a"),
    ("SELECT {id} AS x, 1 AS y FROM students WHERE {id} IN ('{a}', '{b}') ORDER BY 1", "ab"),
    ("SELECT c.risk_score, s.{id} AS who FROM students s JOIN scores c "
     "ON c.student_id = s.{id} WHERE s.{id} = '{b}'", "b"),
    ("SELECT lower({id}) AS x FROM students ORDER BY {id} LIMIT 2", "ab"),
    ("SELECT upper(lower({id})) AS x FROM students ORDER BY {id} LIMIT 1", "a"),
    ("SELECT left({id}, 1) || substr({id}, 2) AS x FROM students ORDER BY {id} LIMIT 3", "abc"),
    ("SELECT '  ' || {id} || ' ' AS padded FROM students ORDER BY {id} LIMIT 1", "a"),
    ("SELECT list({id} ORDER BY {id}) AS l FROM (SELECT {id} FROM students ORDER BY {id} "
     "LIMIT 2)", "ab"),
    ("SELECT {{'who': {id}}} AS s FROM students ORDER BY {id} LIMIT 1", "a"),
    ("SELECT map([{id}], [1]) AS m FROM students ORDER BY {id} LIMIT 1", "a"),
    # named by the query only: the result shows no id, the literal does
    ("SELECT count(*) AS n FROM students WHERE {id} = '{c}'", "c"),
    ("SELECT count(*) AS n FROM scores WHERE lower(student_id) = ' {c_lower} '", "c"),
]  # fmt: skip
NOT_ATTRIBUTED = [
    "SELECT 'student ' || {id} AS x FROM students ORDER BY {id} LIMIT 2",  # inside a string
    "SELECT md5({id}) AS x FROM students ORDER BY {id} LIMIT 2",  # hashed
    "SELECT substr({id}, 2) AS x FROM students ORDER BY {id} LIMIT 2",  # cut
    "SELECT risk_score FROM scores ORDER BY student_id LIMIT 2",  # rows that show no id
    "SELECT count(*) AS n, 'no such student' AS note FROM students",
]


def fill(template: str, ctx, ids: list[str]) -> str:
    a, b, c = ids
    column = f'"{ctx.id_column}"'
    return template.format(id=column, a=a, b=b, c=c, c_lower=c.lower())


@pytest.mark.parametrize(("template", "expected"), ATTRIBUTED)
def test_ids_shown_under_any_name_or_named_by_the_query_are_attributed(
    tiny_ctx, ids, template, expected
):
    sql = fill(template, tiny_ctx, ids)
    wanted = [ids["abc".index(letter)] for letter in expected]
    assert read(tiny_ctx, sql) == wanted, sql


@pytest.mark.parametrize("template", NOT_ATTRIBUTED)
def test_what_is_not_attributed(tiny_ctx, ids, template):
    sql = fill(template, tiny_ctx, ids)
    assert read(tiny_ctx, sql) == [], sql


def test_the_ids_found_stay_out_of_the_answer(tiny_ctx, ids):
    sql = fill("SELECT {id} AS sid FROM students WHERE {id} = '{a}'", tiny_ctx, ids)
    out = call(tiny_ctx, "run_sql", sql=sql)
    assert out.model_dump() == {
        "columns": ["sid"], "rows": [[ids[0]]], "row_count": 1, "truncated": False,
        "model_version": out.model_version, "data_timestamp": out.data_timestamp,
    }  # fmt: skip


def test_the_audit_entry_lists_the_student_read_through_an_alias(tiny_ctx, ids, tmp_path):
    log = AuditLog(tmp_path / "audit.sqlite")
    session = ToolSession(
        lambda: tiny_ctx,
        Caller("k-analyst", "analyst key", "analyst"),
        [audit_observer(log, status_of)],
        "/v1/tools/run_sql",
    )
    aliased = fill("SELECT {id} AS sid, 1 AS g FROM students WHERE {id} = '{b}'", tiny_ctx, ids)
    session.run(TOOLS_BY_NAME["run_sql"], {"sql": aliased})
    rebuilt = fill(
        "SELECT upper(lower({id})) AS x FROM students ORDER BY {id} LIMIT 2", tiny_ctx, ids
    )
    session.run(TOOLS_BY_NAME["run_sql"], {"sql": rebuilt})
    newest, oldest = log.entries()
    assert (oldest.tool, oldest.status, oldest.student_ids) == ("run_sql", 200, [ids[1]])
    assert oldest.detail == aliased and oldest.n_students == 1
    assert newest.student_ids == ids[:2] and newest.detail == rebuilt
    assert [e.id for e in log.entries(student_id=ids[1])] == [newest.id, oldest.id]
    json.dumps([e.model_dump() for e in log.entries()])
