"""API keys (hashed, roles, revocation) and the audit log, without a server."""

from __future__ import annotations

import stat

import pytest
from typer.testing import CliRunner

from api.audit import AuditLog
from api.keys import KeyRequestError, KeyStore, local_admin_key
from sara.cli import app


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
