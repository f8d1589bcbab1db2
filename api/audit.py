"""The audit log: every student-level read (who, when, which students, which route and tool),
appended to a SQLite table in the workspace. SQLite in WAL mode lets several server worker
processes append at once; the log never holds a key, only the key's id and name."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from tools.errors import ToolError
from tools.session import Observer, ToolEvent

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
MAX_IDS_PER_ENTRY = 10_000


class AuditEntry(BaseModel):
    id: int
    at: str = Field(description="When (UTC, ISO 8601).")
    key_id: str
    key_name: str
    role: str
    route: str
    tool: str | None
    status: int = Field(description="HTTP status of the response.")
    n_students: int = Field(description="How many students the response covered.")
    student_ids: list[str] = Field(description="Their ids (the first 10,000).")
    detail: str | None = Field(description="E.g. the SQL of a free query.")


class AuditLog:
    """Append-only audit table; one SQLite connection per thread."""

    def __init__(self, path: Path):
        self.path = path
        self._local = threading.local()
        self._ready = False
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            with self._lock:
                if not self._ready:
                    con.executescript(SCHEMA)
                    self._ready = True
            self._local.con = con
        return con

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
        ids = list(dict.fromkeys(str(i) for i in student_ids))
        self._connection().execute(
            "INSERT INTO audit (at, key_id, key_name, role, route, tool, status, n_students, "
            "student_ids, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                datetime.now(UTC).isoformat(timespec="milliseconds"),
                key_id,
                key_name,
                role,
                route,
                tool,
                status,
                len(ids),
                json.dumps(ids[:MAX_IDS_PER_ENTRY]),
                detail,
            ),
        )

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
            clauses.append("EXISTS (SELECT 1 FROM json_each(student_ids) WHERE value = ?)")
            params.append(student_id)
        if key_id:
            clauses.append("key_id = ?")
            params.append(key_id)
        if since:
            clauses.append("at >= ?")
            params.append(since)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._connection().execute(
            f"SELECT * FROM audit {where} ORDER BY id DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        names = [d[0] for d in rows.description]
        return [_entry(dict(zip(names, row, strict=True))) for row in rows.fetchall()]


def _entry(row: dict[str, Any]) -> AuditEntry:
    return AuditEntry(**{**row, "student_ids": json.loads(row["student_ids"])})


def audit_observer(log: AuditLog, status_of: Callable[[ToolError], int]) -> Observer:
    """A tool session observer that writes every student-level call to ``log``, successful or
    not, with the HTTP status the caller got (``status_of`` maps a tool error to one)."""

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
