"""The audit log: every student-level read (who, when, which students, which route and tool),
allowed, failed or refused, appended to a SQLite table in the workspace. SQLite in WAL mode lets
several server worker processes append at once; the log never holds a key, only the key's id
and name.

Everything written is free text from somewhere else (ids a caller sent, key names, SQL), so it
is made storable first: characters that UTF-8 cannot encode (lone surrogates) and control
characters become U+FFFD, and each field has a length bound. Reading repairs the same way, so
a row written by an older version or by hand is returned with its bad characters replaced,
never an error. A write that fails (disk full, file unwritable) is ``NotReady``: a student-level
read the log cannot record is refused, never served unaudited."""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from sara.leases import ThreadLeases
from tools.errors import NotReady, ToolError
from tools.session import Observer, ToolEvent

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    key_id TEXT NOT NULL,
    key_name TEXT NOT NULL,
    role TEXT NOT NULL,
    route TEXT NOT NULL,
    tool TEXT,
    status INTEGER NOT NULL,
    n_students INTEGER NOT NULL,
    student_ids TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
"""
# Columns added since the first schema, with their definitions: added to an older log on open.
ADDED_COLUMNS = {"client": "TEXT", "attempts": "INTEGER NOT NULL DEFAULT 1"}
COLUMNS = (
    "at, key_id, key_name, role, route, tool, status, n_students, student_ids, detail, client, "
    "attempts"
)
MAX_IDS_PER_ENTRY = 10_000
MAX_IDS_PER_REFUSAL = 100
MAX_ID_CHARS = 128
MAX_NAME_CHARS = 200  # a key's id and name, a role, a tool, a client address
MAX_ROUTE_CHARS = 300
MAX_DETAIL_CHARS = 20_000  # the longest free SQL a caller may send
# Unencodable (lone surrogates) and control characters, except tab, newline and carriage return.
UNSTORABLE = re.compile("[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
REPLACEMENT = "\ufffd"
PRIVATE_FILE = 0o600
# Refusals without a valid key (401) are coalesced, so a flood of them cannot fill the disk:
# those from one address on one route for one reason within a second share a row that counts
# them, and once a process has started REFUSAL_ROWS_PER_MINUTE such rows in a minute, the rest
# of that minute's share one row per route and reason (address "*").
REFUSAL_WINDOW_S = 1.0
REFUSAL_BUDGET_WINDOW_S = 60.0
REFUSAL_ROWS_PER_MINUTE = 60
MANY_ADDRESSES = "*"


class AuditEntry(BaseModel):
    id: int
    at: str = Field(description="When (UTC, ISO 8601); for repeated refusals, the first.")
    key_id: str = Field(description="The key's id; empty when no valid key was sent.")
    key_name: str
    role: str
    route: str
    tool: str | None
    status: int = Field(description="HTTP status of the response (401/403: refused).")
    n_students: int = Field(description="How many students the response covered.")
    student_ids: list[str] = Field(description="Their ids (the first 10,000).")
    detail: str | None = Field(description="E.g. the SQL of a free query, or why refused.")
    client: str | None = Field(
        default=None,
        description=f"The address a refused attempt came from ({MANY_ADDRESSES!r}: several, "
        "when a flood of refusals was folded into one row).",
    )
    attempts: int = Field(
        default=1, description="Refused attempts this row stands for (repeats are counted)."
    )


def storable(value: object, limit: int) -> str:
    """``value`` as text that SQLite and JSON can both hold, at most ``limit`` characters."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = UNSTORABLE.sub(REPLACEMENT, str(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _optional(value: object, limit: int) -> str | None:
    return None if value is None else storable(value, limit)


def _ids(values: Iterable[object], limit: int) -> list[str]:
    """Distinct storable ids, in order, at most ``limit`` of them."""
    return list(dict.fromkeys(storable(v, MAX_ID_CHARS) for v in values))[:limit]


@dataclass
class _Coalesced:
    """The row that counts repeated refusals until ``until`` (on the log's clock)."""

    row_id: int
    until: float
    attempts: int
    ids: list[str]


class AuditLog:
    """Append-only audit table (but for the count of a coalesced refusal); one SQLite
    connection per thread. ``clock`` (monotonic seconds) times the coalescing of refusals."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.monotonic):
        self.path, self._clock = path, clock
        self._connections: ThreadLeases[sqlite3.Connection] = ThreadLeases()
        self._ready = False
        self._lock = threading.Lock()
        self._refusals_lock = threading.Lock()
        self._refusals: dict[tuple[str, str, str], _Coalesced] = {}  # route, detail, client
        self._minute = (0.0, 0)  # (start, rows started) of the current refusal-budget minute

    def _connection(self) -> sqlite3.Connection:
        return self._connections.get(self._connect)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One thread at a time, though not always the one that opened it (see ThreadLeases).
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        # Bytes that are not UTF-8 (a row written by other means) are read, not refused.
        con.text_factory = lambda raw: raw.decode("utf-8", "replace")
        # Before WAL mode creates the -wal and -shm files: SQLite gives them this mode.
        self._make_private()
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        with self._lock:
            if not self._ready:
                con.executescript(SCHEMA)
                _add_columns(con)
                self._ready = True
        return con

    def _make_private(self) -> None:
        """The log and its WAL files readable by their owner only (a log created by an older
        version, or by a process started with a lax umask)."""
        for suffix in ("", "-wal", "-shm"):
            path = self.path.with_name(self.path.name + suffix)
            try:
                if path.stat().st_mode & 0o777 != PRIVATE_FILE:
                    os.chmod(path, PRIVATE_FILE)
            except OSError:  # absent, or another user's: nothing this process can change
                continue

    def _write(self, sql: str, params: tuple[Any, ...]) -> int:
        """Run one write; the new row's id. Any failure to write is ``NotReady``."""
        try:
            return self._connection().execute(sql, params).lastrowid or 0
        except (sqlite3.Error, OSError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.error("audit log %s cannot be written: %s", self.path, reason)
            raise NotReady(
                f"the audit log cannot be written ({reason}), so student-level reads are "
                "refused until it can be; free space in SARA's workspace or fix its permissions"
            ) from None

    def _insert(
        self,
        *,
        key_id: str,
        key_name: str,
        role: str,
        route: str,
        tool: str | None,
        status: int,
        ids: list[str],
        n_students: int,
        detail: str | None,
        client: str | None = None,
    ) -> int:
        return self._write(
            f"INSERT INTO audit ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
            (
                datetime.now(UTC).isoformat(timespec="milliseconds"),
                storable(key_id, MAX_NAME_CHARS),
                storable(key_name, MAX_NAME_CHARS),
                storable(role, MAX_NAME_CHARS),
                storable(route, MAX_ROUTE_CHARS),
                _optional(tool, MAX_NAME_CHARS),
                int(status),
                n_students,
                json.dumps(ids),
                _optional(detail, MAX_DETAIL_CHARS),
                _optional(client, MAX_NAME_CHARS),
            ),
        )

    def record(
        self,
        *,
        key_id: str,
        key_name: str,
        role: str,
        route: str,
        tool: str | None,
        status: int,
        student_ids: list[str],
        detail: str | None = None,
    ) -> None:
        """Append one read. Raises ``NotReady`` when the log cannot be written."""
        ids = _ids(student_ids, len(student_ids))
        self._insert(
            key_id=key_id,
            key_name=key_name,
            role=role,
            route=route,
            tool=tool,
            status=status,
            ids=ids[:MAX_IDS_PER_ENTRY],
            n_students=len(ids),
            detail=detail,
        )

    def refused(
        self,
        *,
        route: str,
        status: int,
        client: str | None,
        student_ids: list[str],
        detail: str,
        key_id: str = "",
        key_name: str = "",
        role: str = "",
    ) -> None:
        """Append one refused attempt (401: no valid key, 403: a role too low) with the
        students it named; refusals without a valid key are coalesced (see
        ``REFUSAL_WINDOW_S``). Raises ``NotReady`` when the log cannot be written."""
        ids = _ids(student_ids, MAX_IDS_PER_REFUSAL)
        row = dict(key_id=key_id, key_name=key_name, role=role, route=route, tool=None,
                   status=status, detail=detail)  # fmt: skip
        if status != 401:
            self._insert(**row, ids=ids, n_students=len(ids), client=client)
            return
        with self._refusals_lock:
            now = self._clock()
            self._refusals = {k: c for k, c in self._refusals.items() if c.until > now}
            key = (route, detail, client or "")
            if key not in self._refusals and self._budget_spent(now):
                key = (route, detail, MANY_ADDRESSES)
            counted = self._refusals.get(key)
            if counted is not None:
                counted.attempts += 1
                counted.ids = _ids([*counted.ids, *ids], MAX_IDS_PER_REFUSAL)
                self._write(
                    "UPDATE audit SET attempts = ?, n_students = ?, student_ids = ? WHERE id = ?",
                    (counted.attempts, len(counted.ids), json.dumps(counted.ids), counted.row_id),
                )
                return
            row_id = self._insert(**row, ids=ids, n_students=len(ids), client=key[2] or None)
            many = key[2] == MANY_ADDRESSES
            window = REFUSAL_BUDGET_WINDOW_S if many else REFUSAL_WINDOW_S
            self._refusals[key] = _Coalesced(row_id, now + window, 1, ids)

    def _budget_spent(self, now: float) -> bool:
        """Count one new refusal row against this minute's budget; True once it is spent."""
        start, rows = self._minute
        if now - start >= REFUSAL_BUDGET_WINDOW_S:
            start, rows = now, 0
        self._minute = (start, rows + 1)
        return rows >= REFUSAL_ROWS_PER_MINUTE

    def entries(
        self,
        *,
        student_id: str | None = None,
        key_id: str | None = None,
        since: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[AuditEntry]:
        """Newest first, optionally only those touching one student, one key, or since a time."""
        clauses, params = [], []
        if student_id:
            # A row whose ids are not JSON (written by other means) matches no student, and
            # does not fail the query.
            clauses.append(
                "EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(student_ids) "
                "THEN student_ids ELSE '[]' END) WHERE value = ?)"
            )
            params.append(storable(student_id, MAX_ID_CHARS))
        if key_id:
            clauses.append("key_id = ?")
            params.append(storable(key_id, MAX_NAME_CHARS))
        if since:
            clauses.append("at >= ?")
            params.append(storable(since, MAX_NAME_CHARS))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._connection().execute(
            f"SELECT * FROM audit {where} ORDER BY id DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        names = [d[0] for d in rows.description]
        return [_entry(dict(zip(names, row, strict=True))) for row in rows.fetchall()]


def _add_columns(con: sqlite3.Connection) -> None:
    have = {row[1] for row in con.execute("PRAGMA table_info(audit)")}
    for name, definition in ADDED_COLUMNS.items():
        if name not in have:
            try:
                con.execute(f"ALTER TABLE audit ADD COLUMN {name} {definition}")
            except sqlite3.OperationalError as exc:  # another worker added it first
                if "duplicate column" not in str(exc):
                    raise


def _entry(row: dict[str, Any]) -> AuditEntry:
    """A stored row as an entry, whatever it holds: text repaired and bounded, numbers that are
    not numbers as -1, ids that are not a JSON list kept as one id."""
    return AuditEntry(
        id=_number(row.get("id")),
        at=storable(row.get("at") or "", MAX_NAME_CHARS),
        key_id=storable(row.get("key_id") or "", MAX_NAME_CHARS),
        key_name=storable(row.get("key_name") or "", MAX_NAME_CHARS),
        role=storable(row.get("role") or "", MAX_NAME_CHARS),
        route=storable(row.get("route") or "", MAX_ROUTE_CHARS),
        tool=_optional(row.get("tool"), MAX_NAME_CHARS),
        status=_number(row.get("status")),
        n_students=_number(row.get("n_students")),
        student_ids=_stored_ids(row.get("student_ids")),
        detail=_optional(row.get("detail"), MAX_DETAIL_CHARS),
        client=_optional(row.get("client"), MAX_NAME_CHARS),
        attempts=_number(row.get("attempts", 1)),
    )


def _number(value: object) -> int:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return -1


def _stored_ids(raw: object) -> list[str]:
    if raw is None or raw == "":
        return []
    try:
        ids = json.loads(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return [storable(raw, MAX_ID_CHARS)]
    if not isinstance(ids, list):
        return [storable(raw, MAX_ID_CHARS)]
    return _ids(ids, MAX_IDS_PER_ENTRY)


def audit_observer(log: AuditLog, status_of: Callable[[ToolError], int]) -> Observer:
    """A tool session observer that writes every student-level call to ``log``, successful or
    not, with the HTTP status the caller got (``status_of`` maps a tool error to one). It runs
    before the call returns, so when the log cannot be written the call raises ``NotReady``
    instead of handing back what it read."""

    def observe(event: ToolEvent) -> None:
        if not event.tool.student_level:
            return
        status = 500 if event.failed else status_of(event.error) if event.error else 200
        log.record(
            key_id=event.caller.key_id,
            key_name=event.caller.name,
            role=event.caller.role,
            route=event.route,
            tool=event.tool.name,
            status=status,
            student_ids=event.students(),
            detail=event.request.audit_detail() if event.request is not None else None,
        )

    return observe
