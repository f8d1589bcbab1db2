"""The audit log: every student-level read (who, when, which students, which route and tool),
appended to a SQLite table in the workspace. SQLite in WAL mode lets several server worker
processes append at once; the log never holds a key, only the key's id and name."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

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


def student_ids_in(value: Any, id_keys: frozenset[str]) -> list[str]:
    """Every student id in a tool's output or input: values under an id key, at any depth, and
    the id column of tabular results (``columns`` + ``rows``)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            columns = node.get("columns")
            if isinstance(columns, list) and isinstance(node.get("rows"), list):
                for index, name in enumerate(columns):
                    if name in id_keys:
                        found.extend(
                            str(row[index]) for row in node["rows"] if isinstance(row, list)
                        )
            for key, child in node.items():
                if key in id_keys and isinstance(child, str):
                    found.append(child)
                elif key in id_keys and isinstance(child, list):
                    found.extend(str(c) for c in child if isinstance(c, str))
                else:
                    walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(value)
    return found
