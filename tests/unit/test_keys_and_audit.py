"""API keys (hashed, roles, revocation) and the audit log (repairing what it cannot store or
read, coalescing refusals, refusing reads it cannot record), without a server."""

from __future__ import annotations

import json
import os
import sqlite3
import stat

import pytest
from typer.testing import CliRunner

from api import audit
from api.audit import AuditLog
from api.keys import KeyRequestError, KeyStore, local_admin_key
from sara.cli import app
from tools.errors import NotReady


def test_keys_are_stored_hashed_and_map_to_roles(tmp_path):
    store = KeyStore(tmp_path / "keys.json")
    entry, token = store.create("SIS nightly export", "staff")
    assert token.startswith(f"sara_{entry.id}_")
    raw = (tmp_path / "keys.json").read_text()
    assert token not in raw and entry.hash in raw
    assert stat.S_IMODE((tmp_path / "keys.json").stat().st_mode) == 0o600
    principal = store.authenticate(token)
    assert (principal.name, principal.role) == ("SIS nightly export", "staff")
    assert principal.can("viewer") and principal.can("staff") and not principal.can("analyst")


@pytest.mark.parametrize(
    "bad", ["", "sara", "sara__x", "sara_deadbeef_nope", "x" * 500, "sara_a_b_c"]
)
def test_wrong_or_malformed_keys_are_refused(tmp_path, bad):
    store = KeyStore(tmp_path / "keys.json")
    store.create("a", "admin")
    assert store.authenticate(bad) is None


def test_a_revoked_key_stops_working_and_changes_are_seen_without_restart(tmp_path):
    server_view = KeyStore(tmp_path / "keys.json")
    assert server_view.authenticate("sara_x_y") is None  # no file yet
    cli_view = KeyStore(tmp_path / "keys.json")
    entry, token = cli_view.create("temp", "analyst")
    assert server_view.authenticate(token).role == "analyst"
    cli_view.revoke(entry.id)
    assert server_view.authenticate(token) is None
    with pytest.raises(KeyRequestError, match="no key with id"):
        cli_view.revoke("nothere")
    with pytest.raises(KeyRequestError, match="not one of viewer, staff, analyst, admin"):
        cli_view.create("x", "superuser")


def test_local_admin_key_is_created_once_and_replaced_if_revoked(tmp_path):
    store = KeyStore(tmp_path / "keys.json")
    first = local_admin_key(store, tmp_path / "local.key")
    assert local_admin_key(store, tmp_path / "local.key") == first
    assert store.authenticate(first).role == "admin"
    store.revoke(first.split("_")[1])
    second = local_admin_key(store, tmp_path / "local.key")
    assert second != first and store.authenticate(second).role == "admin"


def test_keys_cli_creates_lists_and_revokes(settings):
    runner = CliRunner()
    created = runner.invoke(app, ["keys", "create", "--role", "viewer", "--name", "board"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    assert KeyStore(settings.keys_path).authenticate(token).role == "viewer"
    listed = runner.invoke(app, ["keys", "list"])
    assert "board" in listed.output and token not in listed.output
    key_id = token.split("_")[1]
    assert runner.invoke(app, ["keys", "revoke", key_id]).exit_code == 0
    bad = runner.invoke(app, ["keys", "create", "--role", "root", "--name", "x"])
    assert bad.exit_code == 1 and "not one of" in bad.output
    local = runner.invoke(app, ["keys", "local"])
    assert local.exit_code == 0 and local.stdout.strip().startswith("sara_")


def test_audit_log_appends_and_filters(tmp_path):
    log = AuditLog(tmp_path / "audit.sqlite")
    for i, ids in enumerate([["S1"], ["S2", "S1", "S2"], []]):
        log.record(key_id=f"k{i}", key_name="n", role="staff", route="/r", tool="t",
                   status=200, student_ids=ids)  # fmt: skip
    newest = log.entries()
    assert [e.key_id for e in newest] == ["k2", "k1", "k0"]
    assert newest[1].student_ids == ["S2", "S1"] and newest[1].n_students == 2
    assert [e.key_id for e in log.entries(student_id="S1")] == ["k1", "k0"]
    assert [e.key_id for e in log.entries(key_id="k0")] == ["k0"]
    assert len(AuditLog(tmp_path / "audit.sqlite").entries(limit=2)) == 2  # durable


# Values a hostile or broken client can put in an audit row: a lone surrogate (not encodable as
# UTF-8), a NUL, a terminal escape, and text far longer than any real id or name.
POISON = "\ud800"
HOSTILE = f"A{POISON}B\x00C\x1b[31mD"


def test_audit_log_stores_unencodable_and_oversized_values_repaired(tmp_path):
    log = AuditLog(tmp_path / "audit.sqlite")
    log.record(key_id=HOSTILE, key_name=HOSTILE, role="staff", route=f"/r/{HOSTILE}",
               tool=HOSTILE, status=200, student_ids=[POISON, HOSTILE, "x" * 100_000, "S1"],
               detail=HOSTILE + "y" * 100_000)  # fmt: skip
    [entry] = log.entries()
    assert entry.student_ids[:2] == ["\ufffd", "A\ufffdB\ufffdC\ufffd[31mD"]
    assert len(entry.student_ids[2]) == audit.MAX_ID_CHARS and entry.student_ids[2].endswith("…")
    assert entry.key_name == entry.key_id == entry.tool == "A\ufffdB\ufffdC\ufffd[31mD"
    assert entry.route == "/r/A\ufffdB\ufffdC\ufffd[31mD" and entry.n_students == 4
    assert len(entry.detail) == audit.MAX_DETAIL_CHARS
    assert json.loads(entry.model_dump_json())["student_ids"][0] == "\ufffd"
    assert [e.id for e in log.entries(student_id=POISON)] == [entry.id]  # found as stored
    assert log.entries(key_id=HOSTILE) and log.entries(since=HOSTILE) == []


def test_audit_rows_that_cannot_be_decoded_are_read_repaired(tmp_path):
    """Rows written by an older version or by hand: JSON escapes of a lone surrogate, bytes that
    are not UTF-8, ids that are not a JSON list, a status that is not a number."""
    log = AuditLog(tmp_path / "audit.sqlite")
    log.record(key_id="k0", key_name="n", role="staff", route="/r", tool="t", status=200,
               student_ids=["S1"])  # fmt: skip
    with sqlite3.connect(tmp_path / "audit.sqlite") as con:
        con.execute(
            "INSERT INTO audit (at, key_id, key_name, role, route, tool, status, n_students, "
            "student_ids, detail) VALUES ('t', 'k1', CAST(X'66ff6f' AS TEXT), 'staff', "
            "CAST(X'2fEDA080' AS TEXT), 't', 'two hundred', 2, '[\"\\ud800\", \"S1\"]', "
            "'\\ud800 ' || CAST(X'c0' AS TEXT))"
        )
        con.execute(
            "INSERT INTO audit (at, key_id, key_name, role, route, tool, status, n_students, "
            "student_ids) VALUES ('t', 'k2', 'n', 'staff', '/r', NULL, 401, 1, 'not json [')"
        )
    rows = log.entries()
    assert json.loads(json.dumps([e.model_dump(mode="json") for e in rows]))  # serialisable
    broken, poisoned = rows[0], rows[1]
    assert broken.student_ids == ["not json ["] and broken.status == 401
    assert poisoned.student_ids == ["\ufffd", "S1"] and poisoned.status == -1
    assert poisoned.key_name == "f\ufffdo" and "\ufffd" in poisoned.route
    assert "\ufffd" in poisoned.detail
    # Filtering by student skips the row whose ids are not JSON instead of failing the query.
    assert [e.key_id for e in log.entries(student_id="S1")] == ["k1", "k0"]


def test_refusals_without_a_key_are_coalesced_and_with_one_recorded_each(tmp_path):
    now = [1000.0]
    log = AuditLog(tmp_path / "audit.sqlite", clock=lambda: now[0])
    refuse = {"route": "/v1/students/{student_id}/risk", "status": 401, "detail": "no key"}
    for i in range(30):  # one address, within a second
        log.refused(**refuse, client="10.0.0.1", student_ids=[f"S{i % 3}"])
    log.refused(**refuse, client="10.0.0.2", student_ids=[])
    now[0] += 1.5
    log.refused(**refuse, client="10.0.0.1", student_ids=[])
    for _ in range(2):  # a valid key whose role is too low: every attempt is its own row
        log.refused(route="/v1/score", status=403, client="10.0.0.3", student_ids=["S9"],
                    detail="needs staff", key_id="k1", key_name="board", role="viewer")  # fmt: skip
    rows = log.entries()
    assert [(e.status, e.client, e.attempts) for e in rows] == [
        (403, "10.0.0.3", 1), (403, "10.0.0.3", 1), (401, "10.0.0.1", 1),
        (401, "10.0.0.2", 1), (401, "10.0.0.1", 30),
    ]  # fmt: skip
    assert rows[-1].student_ids == ["S0", "S1", "S2"] and rows[-1].key_id == ""
    assert (rows[0].key_name, rows[0].role, rows[0].student_ids) == ("board", "viewer", ["S9"])


def test_a_flood_of_refusals_from_many_addresses_has_a_bounded_number_of_rows(tmp_path):
    now = [0.0]
    log = AuditLog(tmp_path / "audit.sqlite", clock=lambda: now[0])
    for minute in range(2):
        for i in range(5000):
            now[0] = minute * 60 + i / 1000  # 5,000 addresses in 5 seconds
            log.refused(route="/v1/score", status=401, client=f"10.{minute}.{i // 256}.{i % 256}",
                        student_ids=[], detail="no key")  # fmt: skip
    rows = log.entries(limit=1000)
    assert len(rows) == 2 * (audit.REFUSAL_ROWS_PER_MINUTE + 1)
    assert sum(e.attempts for e in rows) == 10_000
    assert [e.attempts for e in rows if e.client == audit.MANY_ADDRESSES] == [4940, 4940]


def test_an_audit_log_that_cannot_be_written_is_not_ready(tmp_path):
    """SQLite's own 'database or disk is full', made by capping the file at its current size."""
    log = AuditLog(tmp_path / "audit.sqlite")
    log.record(key_id="k", key_name="n", role="staff", route="/r", tool="t", status=200,
               student_ids=["S1"])  # fmt: skip
    con = log._connection()
    con.execute(f"PRAGMA max_page_count = {con.execute('PRAGMA page_count').fetchone()[0]}")
    with pytest.raises(NotReady, match=r"audit log cannot be written \(database or disk is full"):
        for _ in range(1000):
            log.record(key_id="k", key_name="n", role="staff", route="/r", tool="t",
                       status=200, student_ids=["S1" * 50])  # fmt: skip
    with pytest.raises(NotReady):
        for _ in range(1000):
            log.refused(route="/r", status=403, client=None, student_ids=[], detail="x" * 100)
    assert log.entries(limit=1)  # still readable


def test_the_audit_log_is_private_whatever_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        log = AuditLog(tmp_path / "audit.sqlite")
        log.record(key_id="k", key_name="n", role="staff", route="/r", tool="t", status=200,
                   student_ids=["S1"])  # fmt: skip
        stale = tmp_path / "old" / "audit.sqlite"
        stale.parent.mkdir()
        sqlite3.connect(stale).close()
        stale.chmod(0o644)
        AuditLog(stale).entries()
    finally:
        os.umask(old)
    for path in (*tmp_path.glob("audit.sqlite*"), stale):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert {p.name for p in tmp_path.glob("audit.sqlite*")} == {
        "audit.sqlite", "audit.sqlite-wal", "audit.sqlite-shm"
    }  # fmt: skip
