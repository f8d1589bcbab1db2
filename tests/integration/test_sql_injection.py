"""SQL injection through every input that reaches DuckDB, driven through the HTTP API: the
analyst's free SQL (run_sql) and every name and value the structured routes put into a query
(cohort filters as query parameters and bodies, equity metrics and group-bys, student ids in
paths and bodies, intervention names, equity constraints, paging). Every attempt must be
refused with a 4xx naming the field, or answered within scope; no file outside the workspace
is ever read, nothing on disk changes, and the free-SQL connection itself can touch no file."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import quote

import duckdb
import pytest

from tests.integration.conftest import auth
from tools import sql_guard, sql_sandbox
from tools.errors import InvalidInput
from tools.sql_guard import SqlInput, run_sql

pytestmark = pytest.mark.integration

CANARY = "sara-canary-7f3e1c9a"
PASSWD_MARK = "root:x:0:0"
# Files the app appends to while serving: the audit log (sqlite with its write-ahead log).
APPENDED = ("audit.sqlite", "audit.sqlite-wal", "audit.sqlite-shm", "audit.sqlite-journal")
ATTEMPTS: list[tuple[str, str, int]] = []  # (route, input, status) of every attempt made


@pytest.fixture(scope="module")
def outside(tmp_path_factory, published) -> Path:
    """A folder outside the workspace holding canary files in every format a reader takes."""
    folder = tmp_path_factory.mktemp("outside")
    assert not folder.resolve().is_relative_to(published.home.resolve())
    (folder / "canary.csv").write_text(f"secret\n{CANARY}\n")
    (folder / "canary.json").write_text(f'{{"secret": "{CANARY}"}}\n')
    (folder / "canary.txt").write_text(CANARY)
    con = duckdb.connect()
    con.execute(f"COPY (SELECT '{CANARY}' AS secret) TO '{folder / 'canary.parquet'}'")
    con.close()
    return folder


def digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in APPENDED
    }


@pytest.fixture(scope="module")
def before(api, published, outside, role_keys) -> dict[str, object]:
    """Every file of the workspace and of the outside folder, and the working directory's
    entries, before any attempt (after the app has started)."""
    api.get("/v1/model", headers=auth(role_keys["viewer"]))
    return {
        "workspace": digests(published.home),
        "outside": digests(outside),
        "cwd": sorted(os.listdir(Path.cwd())),
    }


def refused(api, key: str, method: str, url: str, body=None, field: str | None = None) -> dict:
    """Send one attempt; it must be a 4xx with the one error shape naming field and rule, and
    must not leak the canary or a password file."""
    response = api.request(method, url, json=body, headers=auth(key))
    ATTEMPTS.append((url, repr(body)[:120], response.status_code))
    text = response.text
    assert CANARY not in text and PASSWD_MARK not in text, (url, body, text[:300])
    assert 400 <= response.status_code < 500, (url, body, response.status_code, text[:300])
    error = response.json()["error"]
    assert error["message"] and error["field"], (url, body, error)
    if field is not None:
        assert error["field"].startswith(field), (url, body, error)
    return error


def answered(api, key: str, method: str, url: str, body=None) -> dict:
    """An attempt that is harmless as written: answered 200, within scope, leaking nothing."""
    response = api.request(method, url, json=body, headers=auth(key))
    ATTEMPTS.append((url, repr(body)[:120], response.status_code))
    assert CANARY not in response.text and PASSWD_MARK not in response.text
    assert response.status_code == 200, (url, body, response.text[:300])
    return response.json()


def sql_attempts(outside: Path, warehouse: Path) -> list[str]:
    canary = outside / "canary.csv"
    out = outside / "written"
    readers = [
        f"SELECT * FROM {reader}('{outside / name}')"
        for reader, name in (
            ("read_csv", "canary.csv"),
            ("read_csv_auto", "canary.csv"),
            ("read_parquet", "canary.parquet"),
            ("parquet_scan", "canary.parquet"),
            ("read_json", "canary.json"),
            ("read_json_auto", "canary.json"),
            ("read_ndjson", "canary.json"),
            ("read_text", "canary.txt"),
            ("read_blob", "canary.txt"),
            ("sniff_csv", "canary.csv"),
            ("parquet_metadata", "canary.parquet"),
            ("read_csv", "/etc/passwd"),
            ("read_text", "/etc/passwd"),
        )
    ]
    return [
        *readers,
        # a path written as a table: DuckDB's replacement scan
        f"SELECT * FROM '{canary}'",
        f'SELECT * FROM "{canary}"',
        f"FROM '{canary}'",
        "SELECT * FROM '/etc/passwd'",
        f"SELECT * FROM students JOIN '{canary}' ON true",
        f"SELECT * FROM students s POSITIONAL JOIN '{canary}'",
        f"SELECT (SELECT content FROM read_text('{canary}')) AS c",
        f"SELECT * FROM students WHERE StudentID IN (SELECT * FROM '{canary}')",
        f"WITH x AS (SELECT * FROM read_csv('{canary}')) SELECT * FROM x",
        f"SELECT * FROM students, LATERAL read_csv('{canary}')",
        f"SELECT * FROM glob('{outside}/*')",
        "SELECT * FROM glob('/etc/*')",
        # case, quoting, qualification and unicode tricks
        f"sElEcT * FrOm ReAd_CsV('{canary}')",
        f"SELECT * FROM \"READ_CSV\"('{canary}')",
        f"SELECT * FROM main.read_csv('{canary}')",
        f"SELECT * FROM system.main.read_text('{canary}')",
        f"SELECT * FROM read\u200b_csv('{canary}')",
        "SELECT 1\uff1b DROP TABLE scores",
        "\uff24\uff32\uff2f\uff30 TABLE scores",
        "DrOp TaBlE scores",
        "SELECT 1\x00; DROP TABLE scores",
        # stacked statements, and comments hiding or closing them
        "SELECT 1; DROP TABLE scores",
        "SELECT 1;DROP TABLE scores;",
        "SELECT 1 --\n; DROP TABLE scores",
        "SELECT 1 /* */; DROP TABLE scores",
        "SELECT '/* '; DROP TABLE scores; -- */'",
        f"SELECT 1 /*'*/; COPY scores TO '{out}.csv' --'",
        f"SELECT * FROM students; SELECT * FROM '{canary}'",
        "/* SELECT */ DELETE FROM scores",
        # other statements
        "ATTACH ':memory:' AS m",
        f"ATTACH '{out}.db' AS m",
        f"ATTACH '{warehouse}' AS w2",
        "DETACH warehouse",
        "USE memory",
        f"COPY students TO '{out}.csv'",
        f"COPY (SELECT * FROM scores) TO '{out}.parquet' (FORMAT parquet)",
        f"COPY scores FROM '{canary}'",
        f"EXPORT DATABASE '{out}'",
        f"IMPORT DATABASE '{outside}'",
        "INSTALL httpfs",
        "FORCE INSTALL httpfs",
        "LOAD httpfs",
        "PRAGMA database_list",
        "PRAGMA enable_profiling",
        "SELECT * FROM pragma_database_list()",
        "SET enable_external_access = true",
        "SET threads = 64",
        "SET memory_limit = '100GB'",
        "SET GLOBAL lock_configuration = false",
        "RESET memory_limit",
        "RESET ALL",
        "CALL pragma_version()",
        "CALL duckdb_settings()",
        "CREATE TABLE y AS SELECT 1",
        "CREATE TEMP TABLE y AS SELECT * FROM scores",
        "CREATE VIEW v AS SELECT * FROM scores",
        "CREATE MACRO evil(x) AS x",
        "CREATE SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')",
        "INSERT INTO scores SELECT * FROM scores",
        "UPDATE scores SET risk_score = 0",
        "DELETE FROM scores",
        "DROP TABLE scores",
        "ALTER TABLE scores RENAME TO s2",
        "TRUNCATE scores",
        "VACUUM",
        "CHECKPOINT",
        "BEGIN TRANSACTION",
        "SELECT 1 INTO y",
        "DESCRIBE students",
        "SUMMARIZE students",
        "SHOW TABLES",
        "SELECT * FROM (SUMMARIZE students)",
        # system state
        "SELECT getenv('HOME')",
        "SELECT current_setting('home_directory')",
        "SELECT * FROM duckdb_settings()",
        "SELECT * FROM duckdb_secrets()",
        "SELECT * FROM information_schema.tables",
        "SELECT * FROM sqlite_master",
        "SELECT * FROM warehouse.main.students",
        "SELECT * FROM memory.main.students",
        "SELECT * FROM query('SELECT 1')",
        "SELECT * FROM query_table('scores')",
        "SELECT * FROM range(10)",
        "SELECT load_extension('httpfs')",
        # too deep to check
        "SELECT " + "(" * 3000 + "1" + ")" * 3000,
    ]


def test_free_sql_attacks_are_all_refused(api, role_keys, published, outside, before):
    key = role_keys["analyst"]
    for sql in sql_attempts(outside, published.warehouse_path):
        refused(api, key, "POST", "/v1/tools/run_sql", {"sql": sql}, field="sql")
    assert not (outside / "written").exists()
    assert not list(outside.glob("written*"))
    # The warehouse is whole and still served.
    out = answered(api, key, "POST", "/v1/tools/run_sql", {"sql": "SELECT count(*) FROM scores"})
    assert out["rows"] == [[3000]]


def test_free_sql_that_is_harmless_as_written_stays_in_scope(api, role_keys):
    key = role_keys["analyst"]
    url = "/v1/tools/run_sql"
    # A comment only hides text; the one statement runs and the table is still there.
    for sql in (
        "SELECT count(*) FROM scores -- ; DROP TABLE scores",
        "SELECT count(*) FROM scores /* ; DROP TABLE scores; */",
    ):
        assert answered(api, key, "POST", url, {"sql": sql})["rows"] == [[3000]]
    # A quote inside a string literal is data: it matches nobody.
    for sql in (
        "SELECT * FROM students WHERE StudentID = 'x'' OR ''1''=''1'",
        "SELECT * FROM students WHERE StudentID = $$x' OR '1'='1$$",
    ):
        out = answered(api, key, "POST", url, {"sql": sql})
        assert out["rows"] == [] and out["row_count"] == 0
    # Text in a comment never reaches DuckDB, even one that tries to close it early.
    sql = "SELECT 1 AS x -- */, (SELECT content FROM read_text('/etc/passwd')) AS y /*"
    out = answered(api, key, "POST", url, {"sql": sql})
    assert out["columns"] == ["x"] and out["rows"] == [[1]]
    # A path-like alias or CTE name is only a name.
    out = answered(api, key, "POST", url, {"sql": 'WITH "/etc/passwd" AS (SELECT 1 AS x) '
                                           'SELECT * FROM "/etc/passwd"'})  # fmt: skip
    assert out["rows"] == [[1]]


def test_runaway_queries_are_stopped_by_the_limits(api, role_keys):
    key = role_keys["analyst"]
    url = "/v1/tools/run_sql"
    runaway = [
        "SELECT count(*) FROM contributions a, contributions b, contributions c",
        "SELECT * FROM contributions a, contributions b ORDER BY random()",
        "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r",
        "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x FROM r) SELECT max(x) FROM r",
    ]
    for sql in runaway:
        error = refused(api, key, "POST", url, {"sql": sql, "timeout_s": 2})
        message = error["message"]
        assert "exceeded 2 s" in message or "exceeded the memory limit" in message, error
    # A result too large to answer with is refused, not built.
    error = refused(
        api, key, "POST", url, {"sql": "SELECT repeat('x', 100000) FROM students"}, field="sql"
    )
    assert "larger than" in error["message"]
    # A recursive CTE under the row cap answers only max_rows rows.
    endless = "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT x FROM r"
    out = answered(api, key, "POST", url, {"sql": endless, "max_rows": 20})
    assert out["row_count"] == 20 and out["truncated"]
    # The server is still responsive afterwards.
    out = answered(api, key, "POST", url, {"sql": "SELECT count(*) FROM students"})
    assert out["rows"] == [[3000]]


INJECTED_VALUES = [
    "Public' OR '1'='1",
    "Public'--",
    "x'); DROP TABLE scores; --",
    "9 OR 1=1",
    "9) OR (1=1",
    "nan",
    "inf",
    "-inf",
    "1e309",
    "",
    "\u0000",
]
INJECTED_NAMES = [
    'Grade" OR 1=1 --',
    's."Grade"',
    "Grade) OR (1=1",
    "StudentID",
    "GPA",
    "risk_score",
    "1=1",
]


def test_cohort_filters_in_query_parameters_never_widen(api, role_keys, ctx):
    staff, viewer = role_keys["staff"], role_keys["viewer"]
    params = [
        ("school_type", value)
        for value in ["Public' OR '1'='1", "Public'--", "x'); DROP TABLE scores; --"]
    ]
    params += [("Grade", v) for v in INJECTED_VALUES[3:] if v.strip("\x00")]
    params += [("level", "High' OR '1'='1"), ("risk_level", "High; DROP TABLE scores")]
    params += [(name, "9") for name in INJECTED_NAMES]
    for name, value in params:
        query = f"{quote(name)}={quote(value)}"
        refused(api, staff, "GET", f"/v1/students?{query}", field="filters")
        refused(api, viewer, "GET", f"/v1/equity/summary?{query}", field="filters")
    for query, field in (
        ("limit=1;DROP TABLE scores", "limit"),
        ("limit=-1", "limit"),
        ("limit=100000", "limit"),
        ("offset=-5", "offset"),
        ("offset=99999999999999999999999", "offset"),
        ("offset=1e400", "offset"),
    ):
        name, value = query.split("=", 1)
        refused(api, staff, "GET", f"/v1/students?{name}={quote(value)}", field=field)
    for attribute in ('Race" FROM students; --', "StudentID", "GPA", "Race, Gender"):
        refused(
            api, viewer, "GET", f"/v1/equity/summary?attributes={quote(attribute)}",
            field="attributes",
        )  # fmt: skip
    # A legitimate filter counts exactly its students: nothing is widened.
    out = answered(api, staff, "GET", "/v1/students?school_type=Public&limit=1")
    public = ctx.sql("SELECT count(*) AS n FROM students WHERE SchoolType = 'Public'")["n"][0]
    assert out["total"] == public < 3000


def test_equity_metric_group_and_filter_names_and_values(api, role_keys):
    viewer = role_keys["viewer"]
    url = "/v1/equity/query"
    bodies = [
        ({"metric": "mean:GPA) FROM students; DROP TABLE scores; --"}, "metric"),
        ({"metric": "outcome_rate; DROP TABLE scores"}, "metric"),
        ({"metric": 'mean:AttendanceRate" , (SELECT 1) AS "'}, "metric"),
        ({"metric": "mean:StudentID"}, "metric"),
        ({"metric": "mean:read_csv('/etc/passwd')"}, "metric"),
        ({"metric": "\uff4d\uff45\uff41\uff4e_risk"}, "metric"),
        ({"group_by": ['Race" FROM students; DROP TABLE students; --']}, "group_by"),
        ({"group_by": ["Race, StudentID"]}, "group_by"),
        ({"group_by": ["StudentID"]}, "group_by"),
        ({"group_by": ["Race", "Gender", "Locale"]}, "group_by"),
        ({"filters": {'Race" IS NOT NULL OR "Race': "White"}}, "filters"),
        ({"filters": {"Race": "x' OR 1=1 --"}}, "filters"),
        ({"filters": {"Race": ["White", "x') OR ('1'='1"]}}, "filters"),
        ({"filters": {"Grade": "9 OR 1=1"}}, "filters"),
        ({"filters": {"Grade": "NaN"}}, "filters"),
        ({"filters": {"AttendanceRate": "nan"}}, "filters"),
        ({"filters": {"Grade": {"$gt": 0}}}, "filters"),
        ({"filters": {"Grade": [[9]]}}, "filters"),
        ({"filters": {"risk_level": "High' OR '1'='1"}}, "filters"),
        ({"filters": {"risk_level": []}}, "filters"),
    ]
    for body, field in bodies:
        refused(api, viewer, "POST", url, body, field=field)


def test_student_ids_in_paths_and_bodies(api, role_keys):
    staff, analyst = role_keys["staff"], role_keys["analyst"]
    ids = [
        "S0000001' OR '1'='1",
        "' OR 1=1 --",
        "x'); DROP TABLE scores; --",
        "S0000001\u0000",
        "*",
        "%",
    ]
    # The field named is the id's: the path's student_id or a body's student_ids.
    for student in ids:
        path = quote(student, safe="")
        refused(api, staff, "GET", f"/v1/students/{path}/risk", field="student_id")
        refused(api, staff, "GET", f"/v1/students/{path}/explanation", field="student_id")
        refused(api, staff, "POST", "/v1/score", {"student_ids": [student]}, field="student_id")
        refused(
            api, staff, "POST", "/v1/tools/explain_student", {"student_id": student},
            field="student_id",
        )  # fmt: skip
        refused(
            api, staff, "POST", "/v1/interventions/compare", {"student_ids": [student]},
            field="student_id",
        )  # fmt: skip
        refused(
            api, analyst, "POST", "/v1/interventions/plan",
            {"budget": 10_000, "student_ids": [student]}, field="student_id",
        )  # fmt: skip


def test_intervention_names_constraints_and_tool_bodies(api, role_keys):
    staff, analyst = role_keys["staff"], role_keys["analyst"]
    evil = "tutoring'; DROP TABLE scores; --"
    attempts = [
        (staff, "/v1/interventions/compare",
         {"all_students": True, "interventions": [evil]}, "interventions"),
        (staff, "/v1/interventions/compare",
         {"filters": {"Locale": "Rural' OR '1'='1"}}, "filters"),
        (staff, "/v1/interventions/compare",
         {"filters": {'Locale" OR 1=1 --': "Rural"}}, "filters"),
        (analyst, "/v1/interventions/plan",
         {"budget": 10_000, "interventions": [evil]}, "interventions"),
        (analyst, "/v1/interventions/plan",
         {"budget": 10_000, "capacity": {evil: 5}}, "capacity"),
        (analyst, "/v1/interventions/plan",
         {"budget": 10_000, "equity": {"attribute": 'SES_Quartile" FROM students; --',
                                       "min_share": {"1": 0.3}}}, "equity"),
        (analyst, "/v1/interventions/plan",
         {"budget": 10_000, "equity": {"attribute": "StudentID", "min_share": {"1": 0.3}}},
         "equity"),
        (analyst, "/v1/interventions/plan",
         {"budget": 10_000, "filters": {"Grade": "9 OR 1=1"}}, "filters"),
        (staff, "/v1/tools/find_students", {"filters": {"Grade": "Infinity"}}, "filters"),
        (staff, "/v1/tools/find_students", {"limit": "10; DROP TABLE scores"}, "limit"),
        (staff, "/v1/tools/find_students", {"offset": 10**20}, "offset"),
        (staff, "/v1/tools/query_equity", {"metric": "mean:GPA--"}, "metric"),
        (staff, "/v1/tools/equity_summary", {"attributes": ["Race; DROP TABLE scores"]},
         "attributes"),
        (staff, "/v1/tools/equity_summary", {"filters": {"Race": "White' OR 'a'='a"}},
         "filters"),
        (analyst, "/v1/tools/run_sql", {"sql": "SELECT 1", "max_rows": 10**9}, "max_rows"),
        (analyst, "/v1/tools/run_sql", {"sql": "SELECT 1", "timeout_s": 1e9}, "timeout_s"),
    ]  # fmt: skip
    for key, url, body, field in attempts:
        refused(api, key, "POST", url, body, field=field)


def test_the_free_sql_connection_cannot_touch_files_at_all(ctx, outside, monkeypatch):
    """Defence in depth: the sandbox refuses file access, writes and settings on its own, even
    for SQL the parser would have let through."""
    con = sql_sandbox.open_sandbox(ctx.settings.warehouse_path)
    try:
        settings = con.execute(
            "SELECT current_setting('enable_external_access'), "
            "current_setting('lock_configuration'), "
            "current_setting('autoinstall_known_extensions'), "
            "current_setting('autoload_known_extensions')"
        ).fetchone()
        assert settings == (False, True, False, False)
        assert con.execute("SELECT count(*) FROM students").fetchone() == (3000,)
        canary = outside / "canary.csv"
        for sql in (
            f"SELECT * FROM read_csv('{canary}')",
            f"SELECT * FROM '{canary}'",
            f"SELECT * FROM read_text('{canary}')",
            f"SELECT * FROM read_blob('{canary}')",
            f"SELECT * FROM glob('{outside}/*')",
            f"SELECT * FROM sniff_csv('{canary}')",
            f"COPY students TO '{outside}/copied.csv'",
            f"ATTACH '{outside}/attached.db' AS a",
            f"EXPORT DATABASE '{outside}/exported'",
            "SET enable_external_access = true",
            "RESET lock_configuration",
            "SET threads = 64",
            "INSTALL httpfs",
            "LOAD httpfs",
            "CREATE TABLE y AS SELECT 1",
            "DROP TABLE scores",
        ):
            with pytest.raises(duckdb.Error):
                con.execute(sql).fetchall()
    finally:
        con.close()
    # run_sql itself runs on such a sandbox (in a process of its own): with the parser's check
    # switched off, a file read still fails inside DuckDB.
    monkeypatch.setattr(sql_guard, "check_sql", lambda sql: sql)
    with pytest.raises(InvalidInput) as info:
        run_sql(SqlInput(sql=f"SELECT * FROM read_text('{outside / 'canary.txt'}')"), ctx)
    assert "Permission Error" in info.value.message and CANARY not in info.value.message
    # The app's own read-only connection still opens and reads the warehouse.
    assert ctx.sql("SELECT count(*) AS n FROM scores")["n"][0] == 3000
    assert sorted(p.name for p in outside.iterdir()) == [
        "canary.csv",
        "canary.json",
        "canary.parquet",
        "canary.txt",
    ]


def test_nothing_changed_on_disk_and_nothing_was_accepted_wrongly(published, outside, before):
    after = {
        "workspace": digests(published.home),
        "outside": digests(outside),
        "cwd": sorted(os.listdir(Path.cwd())),
    }
    assert after == before
    refusals = sum(400 <= status < 500 for _, _, status in ATTEMPTS)
    wrong = [a for a in ATTEMPTS if a[2] >= 500]
    print(
        f"\nSQL injection: {len(ATTEMPTS)} attempts, {refusals} refused, "
        f"{len(ATTEMPTS) - refusals} answered within scope, {len(wrong)} accepted wrongly"
    )
    assert not wrong
