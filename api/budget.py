"""A viewer key's daily limit of distinct tables, and the audit of what viewers read.

Disclosure control (tools/disclosure.py) makes every cell a viewer reads carry consistent noise,
so one answer, or the difference of two, tells nothing about one student. Averaging many
differences would: the limit caps the distinct tables one key can read in any 24 hours. A table
read again costs nothing (its noise is the same, so it tells nothing new). The count lives in
the audit database, so every server worker shares it."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

from api.audit import AuditLog
from sara.leases import ThreadLeases
from tools.disclosure import Meter
from tools.errors import LimitReached, NotReady
from tools.session import Caller, Observer, ToolEvent

WINDOW_S = 24 * 3600
MAX_DETAIL_CHARS = 2000
SCHEMA = """
CREATE TABLE IF NOT EXISTS viewer_tables (
    key_id TEXT NOT NULL,
    table_hash TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS viewer_tables_key ON viewer_tables (key_id, at);
"""


class TableBudget:
    """Distinct tables per key per rolling 24 hours, in a SQLite table (one connection per
    thread; writes in immediate transactions, so workers do not both take the last table)."""

    def __init__(self, path: Path, limit: int):
        self.path, self.limit = path, limit
        self._connections: ThreadLeases[sqlite3.Connection] = ThreadLeases()

    def _connection(self) -> sqlite3.Connection:
        return self._connections.get(self._connect)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One thread at a time, though not always the one that opened it (see ThreadLeases).
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        con.execute("PRAGMA journal_mode=WAL")
        con.executescript(SCHEMA)
        return con

    def meter(self, caller: Caller) -> Meter | None:
        """The meter a tool session charges this caller's tables to (none: no limit)."""
        if self.limit <= 0:
            return None
        return lambda table: self.charge(caller, table)

    def charge(self, caller: Caller, table: str, now: float | None = None) -> None:
        """Count ``table`` for this caller (free when read in the last 24 hours); LimitReached
        past the limit, NotReady when the count cannot be kept (then nothing is served)."""
        try:
            self._charge(caller, table, time.time() if now is None else now)
        except (sqlite3.Error, OSError) as exc:
            raise NotReady(
                f"the count of tables read cannot be kept ({str(exc).splitlines()[0]}), so "
                "protected aggregates are refused until it can"
            ) from None

    def _charge(self, caller: Caller, table: str, now: float) -> None:
        since = now - WINDOW_S
        con = self._connection()
        con.execute("BEGIN IMMEDIATE")
        try:
            seen = con.execute(
                "SELECT 1 FROM viewer_tables WHERE key_id = ? AND table_hash = ? AND at >= ?",
                (caller.key_id, table, since),
            ).fetchone()
            if seen is None:
                used, oldest = con.execute(
                    "SELECT count(DISTINCT table_hash), min(at) FROM viewer_tables "
                    "WHERE key_id = ? AND at >= ?",
                    (caller.key_id, since),
                ).fetchone()
                if used >= self.limit:
                    frees = datetime.fromtimestamp(oldest + WINDOW_S, UTC)
                    raise LimitReached(
                        f"the key {caller.name!r} has read {used} distinct tables in the last 24 "
                        f"hours, the limit for a {caller.role} key (it keeps answers from being "
                        f"differenced into one student's data); the next frees up at "
                        f"{frees:%Y-%m-%d %H:%M} UTC. Tables already read can be read again",
                        field="tables",
                        value=used,
                    )
                con.execute(
                    "INSERT INTO viewer_tables (key_id, table_hash, at) VALUES (?, ?, ?)",
                    (caller.key_id, table, now),
                )
                con.execute("DELETE FROM viewer_tables WHERE at < ?", (since - WINDOW_S,))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise


def viewer_audit_observer(log: AuditLog, status_of) -> Observer:
    """Every aggregate a caller below the staff role reads, written to the audit log with what
    it asked (no student is named: these callers read aggregates only)."""

    def observe(event: ToolEvent) -> None:
        if event.caller.can("staff") or not event.tool.aggregate:
            return
        status = 500 if event.failed else status_of(event.error) if event.error else 200
        asked = event.request.model_dump_json() if event.request is not None else None
        log.record(
            key_id=event.caller.key_id,
            key_name=event.caller.name,
            role=event.caller.role,
            route=event.route,
            tool=event.tool.name,
            status=status,
            student_ids=[],
            detail=asked[:MAX_DETAIL_CHARS] if asked else None,
        )

    return observe
