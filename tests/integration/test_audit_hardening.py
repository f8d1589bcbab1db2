"""The audit log under attack and under faults: a row it cannot serialise never breaks
/v1/audit; every refused attempt on a student-level route (no key, a bad key, a role too low)
leaves a row without the key, and a flood of them stays small; a log that cannot be written
(disk full) refuses student-level reads with a 503 instead of serving them unaudited; and the
workspace a real pipeline run and server leave behind, the log included, is its owner's only."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
import subprocess
import sys

import httpx
import pytest

from api.audit import AuditLog
from api.deps import STUDENT_LEVEL_ROLES
from sara.settings import Settings
from tests.integration.conftest import auth, sara_serve
from tests.integration.test_access import AUDITED, STUDENT_LEVEL_ROUTES
from tests.integration.test_api import ROUTES, STUDENT
from tests.timeouts import HTTP_TIMEOUT_S, PIPELINE_TIMEOUT_S
from tools.errors import NotReady

pytestmark = pytest.mark.integration

BELOW = {"staff": "viewer", "analyst": "staff"}  # a key whose role is one too low
BAD_KEY = "sara_0bad0bad_not-a-real-secret-at-all"
SQL = "SELECT * FROM scores LIMIT 2"


@pytest.fixture(scope="module")
def fresh(published, role_keys):
    """A TestClient on its own app (its own audit log object, so no other test's refusals are
    coalesced with these), on the published workspace."""
    from fastapi.testclient import TestClient

    from api.main import create_app

    with TestClient(create_app(published)) as client:
        yield client


def _last_id(log: AuditLog) -> int:
    newest = log.entries(limit=1)
    return newest[0].id if newest else 0


def test_the_refusal_rule_is_the_student_level_route_list():
    """A route's refusals are audited when the role it needs is one a student-level tool needs:
    exactly the routes the access tests call student-level."""
    for _, path, _, lowest in ROUTES:
        assert (lowest in STUDENT_LEVEL_ROLES) == (path in STUDENT_LEVEL_ROUTES), path


def test_a_poisoned_audit_row_is_returned_repaired_not_a_500(api, role_keys, published):
    admin = auth(role_keys["admin"])
    columns = "at, key_id, key_name, role, route, tool, status, n_students, student_ids, detail"
    poisoned = [  # JSON escapes of lone surrogates; bytes that are not UTF-8; ids not JSON
        "'2999', 'poison', 'n', 'staff', '/v1/score', 't', 200, 2, '[\"\\ud800\", \"S1\"]', "
        "CAST(X'EDBFBF' AS TEXT)",
        "'2999', 'poison', 'n', 'staff', '/v1/score', 't', 200, 1, 'not json [', NULL",
        "'2999', 'poison', CAST(X'6eff' AS TEXT), 'staff', CAST(X'2fEDA080' AS TEXT), NULL, "
        "'x', 1, '[]', NULL",
    ]
    api.app.state.runtime.audit.entries(limit=1)  # the table exists
    with sqlite3.connect(published.audit_path) as con:
        ids = [
            con.execute(f"INSERT INTO audit ({columns}) VALUES ({values})").lastrowid
            for values in poisoned
        ]
    try:
        response = api.get("/v1/audit", params={"key_id": "poison"}, headers=admin)
        assert response.status_code == 200, response.text[:300]
        rows = {row["id"]: row for row in response.json()}
        assert set(rows) == set(ids)
        assert rows[ids[0]]["student_ids"] == ["\ufffd", "S1"]
        assert rows[ids[1]]["student_ids"] == ["not json ["]
        assert rows[ids[2]]["key_name"] == "n\ufffd" and rows[ids[2]]["status"] == -1
        for query in ({"student_id": "S1"}, {"student_id": "\ufffd"}, {"since": "2999"}, {}):
            response = api.get("/v1/audit", params={**query, "limit": 1000}, headers=admin)
            assert response.status_code == 200, (query, response.text[:300])
        found = api.get("/v1/audit", params={"student_id": "S1", "limit": 1000}, headers=admin)
        assert ids[0] in {row["id"] for row in found.json()}
    finally:
        with sqlite3.connect(published.audit_path) as con:
            con.execute("DELETE FROM audit WHERE key_id = 'poison'")


@pytest.mark.parametrize(("method", "path", "body", "lowest"), AUDITED)
def test_every_refused_attempt_on_a_student_level_route_is_audited(
    fresh, role_keys, published, method, path, body, lowest
):
    log = fresh.app.state.runtime.audit
    last = _last_id(log)
    tries = [(None, 401, ""), (BAD_KEY, 401, ""), (role_keys[BELOW[lowest]], 403, BELOW[lowest])]
    for key, status, _ in tries:
        headers = auth(key) if key else {}
        response = fresh.request(method, path, json=body, headers=headers)
        assert response.status_code == status, response.text[:300]
        assert response.json()["error"]["code"] in ("unauthorized", "forbidden")
    rows = sorted((e for e in log.entries(limit=50) if e.id > last), key=lambda e: e.id)
    route = path.split("?")[0].replace(STUDENT, "{student_id}")
    assert [(e.status, e.role, e.route, e.client) for e in rows] == [
        (status, role, route, "testclient") for _, status, role in tries
    ]
    assert [e.key_name for e in rows] == ["", "", f"test-{BELOW[lowest]}"]
    assert rows[0].detail.startswith("refused: an API key is required")
    assert rows[1].detail == "refused: the API key is not valid (unknown or revoked)"
    named = [STUDENT] if "{student_id}" in route else []
    assert all(e.student_ids == named and e.tool is None for e in rows)


def test_refusals_on_aggregate_routes_are_not_student_reads(fresh):
    log = fresh.app.state.runtime.audit
    last = _last_id(log)
    assert fresh.post("/v1/equity/query", json={"metric": "outcome_rate"}).status_code == 401
    assert fresh.get("/v1/model").status_code == 401
    assert [e for e in log.entries(limit=5) if e.id > last] == []


def test_the_presented_key_never_reaches_the_audit_file(fresh, role_keys, published):
    presented = [BAD_KEY, role_keys["viewer"], role_keys["revoked"], f"  {role_keys['viewer']} "]
    for key in presented:
        response = fresh.get(f"/v1/students/{STUDENT}/risk", headers={"X-API-Key": key})
        assert response.status_code in (401, 403)
    raw = b"".join(p.read_bytes() for p in published.home.glob("audit.sqlite*"))
    for key in {k.strip() for k in presented}:
        for secret in (key, key.split("_")[-1], hashlib.sha256(key.encode()).hexdigest()):
            assert secret.encode() not in raw, secret[:12]


def test_a_flood_of_keyless_requests_leaves_few_rows_that_count_them(fresh):
    log, route = fresh.app.state.runtime.audit, "/v1/students/{student_id}/explanation"

    def refusals() -> list:
        return [e for e in log.entries(limit=1000) if e.route == route and e.status == 401]

    before = refusals()
    for _ in range(60):
        assert fresh.get(f"/v1/students/{STUDENT}/explanation").status_code == 401
    after = refusals()
    assert sum(e.attempts for e in after) - sum(e.attempts for e in before) == 60
    assert len(after) - len(before) < 20, [(e.at, e.attempts) for e in after]  # one a second


@pytest.fixture
def full_audit_log(tmp_path, monkeypatch):
    """Serving settings whose audit log is full: SQLite's own 'database or disk is full', made
    by capping every connection to the log at the pages it already has, all of them full."""
    path = tmp_path / "audit.sqlite"
    seed = AuditLog(path)
    seed.record(key_id="k", key_name="n", role="staff", route="/r", tool="t", status=200,
                student_ids=["x" * 100] * 30)  # fmt: skip
    _cap(seed._connection())
    with pytest.raises(NotReady):  # fill the last page with rows smaller than any real one
        for _ in range(10_000):
            seed.record(key_id="", key_name="", role="", route="", tool=None, status=200,
                        student_ids=[])  # fmt: skip
    real = AuditLog._connection
    monkeypatch.setattr(AuditLog, "_connection", lambda self: _cap(real(self)))
    monkeypatch.setattr(Settings, "audit_path", property(lambda self: path))
    return path


def _cap(con: sqlite3.Connection) -> sqlite3.Connection:
    pages = con.execute("PRAGMA page_count").fetchone()[0]
    con.execute(f"PRAGMA max_page_count = {pages}")
    return con


def test_a_full_audit_log_refuses_student_reads_with_a_503(full_audit_log, published, role_keys):
    from fastapi.testclient import TestClient

    from api.main import create_app

    staff, analyst = auth(role_keys["staff"]), auth(role_keys["analyst"])
    before = _rows(full_audit_log)
    with TestClient(create_app(published)) as client:
        reads = [
            client.get(f"/v1/students/{STUDENT}/risk", headers=staff),
            client.post("/v1/score", json={"student_ids": [STUDENT]}, headers=staff),
            client.get("/v1/students", params={"level": "High"}, headers=staff),
            client.post("/v1/tools/run_sql", json={"sql": SQL}, headers=analyst),
        ]
        for response in reads:
            assert response.status_code == 503, response.text[:300]
            error = response.json()["error"]
            assert error["code"] == "not_ready"
            assert "audit log cannot be written (database or disk is full)" in error["message"]
            assert STUDENT not in response.text and "risk_score" not in response.text
        # The chat relays the refusal instead of the student's data.
        chat = client.post("/v1/chat", json={"question": f"Why is {STUDENT} high risk?"},
                           headers=staff)  # fmt: skip
        assert chat.status_code == 200, chat.text[:300]
        calls = chat.json()["tool_calls"]
        assert calls and all(c["output"] is None for c in calls), calls
        assert any("audit log cannot be written" in (c["error"] or "") for c in calls)
        # A refusal it cannot record is still the refusal it was.
        assert client.get(f"/v1/students/{STUDENT}/risk").status_code == 401
        # Aggregates need no audit row: still served.
        model = client.get("/v1/model", headers=staff)
        assert model.status_code == 200, model.text[:300]
    assert _rows(full_audit_log) == before  # nothing written, nothing served


def _rows(path) -> int:
    with sqlite3.connect(path) as con:
        return con.execute("SELECT count(*) FROM audit").fetchone()[0]


@pytest.fixture
def lax_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_a_pipeline_run_and_a_server_leave_a_private_workspace(tmp_path, lax_umask):
    """`sara pipeline run` then `sara serve --workers 2` (reads, refusals) on a fresh workspace,
    started with a umask that leaves files readable by everyone: every folder is 0700 and every
    file 0600 afterwards, the audit log and its WAL files included."""
    from api.keys import KeyStore

    settings = Settings(home=tmp_path / "ws")
    env = {**os.environ, "SARA_HOME": str(settings.home), "SARA_CANDIDATES": '["logreg"]'}
    run = subprocess.run(
        [sys.executable, "-m", "sara.cli", "pipeline", "run", "--generate", "1000"],
        env=env,
        capture_output=True,
        text=True,
        timeout=PIPELINE_TIMEOUT_S,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    _, key = KeyStore(settings.keys_path).create("perm-staff", "staff")
    with sara_serve(settings, workers=2) as served:
        for headers in (auth(key), {}):
            response = httpx.get(f"{served.base}/v1/students", params={"limit": 2},
                                 headers=headers, timeout=HTTP_TIMEOUT_S)  # fmt: skip
            assert response.status_code in (200, 401), response.text[:300]
    assert {e.status for e in AuditLog(settings.audit_path).entries()} == {200, 401}
    wrong = [
        f"{oct(stat.S_IMODE(p.lstat().st_mode))} {p.relative_to(tmp_path)}"
        for p in [settings.home, *settings.home.rglob("*")]
        if not p.is_symlink()
        and stat.S_IMODE(p.lstat().st_mode) != (0o700 if p.is_dir() else 0o600)
    ]
    assert not wrong, "\n".join(wrong)
    names = {p.name for p in settings.home.iterdir()}
    assert {"warehouse.duckdb", "mlflow.db", "audit.sqlite", "metrics", "data"} <= names
