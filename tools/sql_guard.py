"""run_sql: one read-only SELECT over the warehouse for analysts, parsed and checked with
sqlglot before it runs, with a row, size, memory and time limit, on its own sandboxed DuckDB:
an in-memory database with the warehouse attached read-only, then external access disabled and
the configuration locked, so even SQL the parser misjudges can read no file, write nothing and
change no setting."""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import math
import threading
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import sqlglot
from pydantic import Field
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.scope import Scope, traverse_scope

from pipeline.warehouse import TABLES
from tools.base import ToolInput, ToolOutput, stamp
from tools.context import RUN_PIPELINE, ToolContext
from tools.errors import InvalidInput, NotReady

ALLOWED_TABLES = frozenset(TABLES)
_STATEMENTS = (
    "Insert",
    "Update",
    "Delete",
    "Merge",
    "Create",
    "Drop",
    "Alter",
    "Command",
    "Copy",
    "Pragma",
    "Set",
    "Attach",
    "Detach",
    "Install",
    "Use",
    "Transaction",
    "Commit",
    "Rollback",
    "Describe",
    "Summarize",
    "Export",
    "Into",
    "LoadData",
)
FORBIDDEN_NODES = tuple(getattr(exp, name) for name in _STATEMENTS if hasattr(exp, name))
FORBIDDEN_PREFIXES = (
    "read_",
    "duckdb_",
    "pragma_",
    "parquet_",
    "iceberg_",
    "delta_",
    "sqlite_",
    "postgres_",
    "mysql_",
)
FORBIDDEN_FUNCTIONS = frozenset(
    {
        "glob",
        "getenv",
        "query",
        "query_table",
        "sniff_csv",
        "load_extension",
        "checkpoint",
        "force_checkpoint",
        "current_setting",
        "which_secret",
    }
)
SOURCE_TYPES = (exp.Table, exp.Subquery, exp.Values)
GRACE_S = 5.0
# The sandbox's own limits: a runaway join or aggregate fails with DuckDB's out-of-memory
# error instead of taking the server's memory, and never spills to disk.
SANDBOX_CONFIG = {
    "threads": 2,
    "memory_limit": "1GB",
    "temp_directory": "",
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
}
FETCH_CHUNK = 256
MAX_RESULT_CHARS = 20_000_000  # about the size of the JSON answer


class SqlInput(ToolInput):
    sql: str = Field(
        max_length=20_000,
        description="Exactly one read-only SELECT (WITH … SELECT and UNION allowed) over the "
        "warehouse tables: students, scores (student_id, risk_score, risk_level, …), "
        "contributions, risk_factors, group_aggregates, model_metrics, calibration, "
        "fairness_groups, fairness_gaps, meta. No other tables, files or table functions.",
    )
    max_rows: int = Field(
        default=1000,
        ge=1,
        le=10_000,
        description="Return at most this many rows (truncated says if more).",
    )
    timeout_s: float = Field(
        default=5.0, gt=0, le=60, description="Stop the query after this many seconds."
    )

    def audit_detail(self) -> str | None:
        return self.sql


class SqlOutput(ToolOutput):
    columns: list[str]
    rows: list[list[Any]] = Field(description="Rows as JSON-safe values (NaN becomes null).")
    row_count: int
    truncated: bool = Field(description="True when the query had more rows than max_rows.")

    def students_read(self, id_column: str) -> list[str]:
        """The values of every result column that holds student ids."""
        keys = {"student_id", id_column}
        at = [i for i, name in enumerate(self.columns) if name in keys]
        return [str(row[i]) for row in self.rows for i in at if row[i] is not None]


def _refuse(reason: str, sql: str) -> InvalidInput:
    return InvalidInput(f"sql refused: {reason}", field="sql", value=sql)


def _function_name(node: exp.Func) -> str:
    return (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()


def _cte_references(root: exp.Expression) -> set[int]:
    """ids of Table nodes that sqlglot's scope analysis resolves to a CTE in scope."""
    found: set[int] = set()
    for scope in traverse_scope(root):
        for table in scope.tables:
            source = scope.sources.get(table.alias_or_name)
            if not isinstance(source, Scope) or not source.is_cte or table.args.get("db"):
                continue
            cte = source.expression.find_ancestor(exp.CTE)
            if cte is not None and cte.alias_or_name.lower() == table.name.lower():
                found.add(id(table))
    return found


def check_sql(sql: str) -> str:
    """The statement to run, regenerated from its checked syntax tree; anything that is not a
    single read-only SELECT over allow-listed tables raises InvalidInput with the reason."""
    try:
        return _checked(sql)
    except RecursionError:  # sqlglot parses and prints recursively
        raise _refuse("it is nested too deeply to check", sql) from None


def _checked(sql: str) -> str:
    try:
        statements = [s for s in sqlglot.parse(sql, dialect="duckdb") if s is not None]
    except SqlglotError as exc:
        raise _refuse(f"cannot parse it ({str(exc).splitlines()[0]})", sql) from None
    if len(statements) != 1:
        raise _refuse(f"give exactly one statement, got {len(statements)}", sql)
    root = statements[0]
    if not isinstance(root, exp.Select | exp.SetOperation):
        kind = (root.sql(dialect="duckdb").split() or ["?"])[0].upper()
        raise _refuse(f"only SELECT queries are allowed, not {kind}", sql)
    for node in root.walk():
        if isinstance(node, FORBIDDEN_NODES):
            raise _refuse(f"{node.key.upper()} is not allowed inside a query", sql)
        if isinstance(node, exp.Func):
            name = _function_name(node)
            if (
                name in FORBIDDEN_FUNCTIONS
                or name.startswith(FORBIDDEN_PREFIXES)
                or name.endswith("_scan")
            ):
                raise _refuse(f"function {name}() reads files or system state", sql)
        if isinstance(node, exp.From | exp.Join):
            source = node.this
            if isinstance(source, exp.Lateral) and isinstance(source.this, exp.Subquery):
                continue
            if not isinstance(source, SOURCE_TYPES):
                raise _refuse(f"table functions are not allowed ({source.sql('duckdb')})", sql)
    try:
        ctes = _cte_references(root)
    except SqlglotError as exc:
        raise _refuse(f"cannot analyse it ({exc})", sql) from None
    for table in root.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            raise _refuse(f"table functions are not allowed ({table.sql('duckdb')})", sql)
        if id(table) in ctes:
            continue
        schema = table.args.get("db")
        if table.args.get("catalog") or (schema and schema.name.lower() != "main"):
            raise _refuse(
                f"table {table.sql('duckdb')} is not allowed; use {', '.join(TABLES)}", sql
            )
        if table.name.lower() not in ALLOWED_TABLES:
            raise _refuse(f"table {table.name!r} is not allowed; use {', '.join(TABLES)}", sql)
    # Comments are dropped: only the checked tree reaches DuckDB, never text hidden in them.
    return root.sql(dialect="duckdb", comments=False)


def json_safe(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return json_safe(value.item())
    if isinstance(value, decimal.Decimal):
        return json_safe(float(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | np.ndarray):
        return [json_safe(v) for v in value]
    return str(value)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sandbox(path: Path) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB with the warehouse attached read-only as its default database,
    then external access turned off and the configuration locked: no file read or written,
    no extension installed or loaded, no setting changed back, whatever the query says."""
    con = duckdb.connect(":memory:", config=SANDBOX_CONFIG)
    try:
        con.execute(f"ATTACH {_literal(str(path))} AS warehouse (READ_ONLY)")
        con.execute("USE warehouse")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


class ResultTooLarge(Exception):
    """The rows would make an answer above MAX_RESULT_CHARS."""


def _size(value: Any) -> int:
    if isinstance(value, str | bytes | bytearray):
        return len(value)
    if isinstance(value, dict):
        return sum(_size(k) + _size(v) for k, v in value.items())
    if isinstance(value, list | tuple | set):
        return sum(_size(v) for v in value) + 2
    return 8


def _fetch(cursor: duckdb.DuckDBPyConnection, stop: threading.Event) -> list[tuple]:
    """Every row, in chunks, refusing a result too large to answer with."""
    rows: list[tuple] = []
    chars = 0
    while not stop.is_set():
        chunk = cursor.fetchmany(FETCH_CHUNK)
        if not chunk:
            return rows
        chars += sum(_size(v) for row in chunk for v in row)
        if chars > MAX_RESULT_CHARS:
            raise ResultTooLarge
        rows.extend(chunk)
    return rows


def _execute(ctx: ToolContext, sql: str, timeout_s: float) -> tuple[list[str], list[tuple]]:
    """Run ``sql`` in a new sandbox in a worker thread; interrupt it on timeout."""
    path = ctx.settings.warehouse_path
    if not path.is_file():
        raise NotReady(f"the warehouse {path} is missing; {RUN_PIPELINE}")
    con = sandbox(path)
    outcome: dict[str, Any] = {}
    stop = threading.Event()

    def work() -> None:
        try:
            cursor = con.execute(sql)
            outcome["columns"] = [d[0] for d in cursor.description]
            outcome["rows"] = _fetch(cursor, stop)
        except Exception as exc:  # reported to the caller below
            outcome["error"] = exc
        finally:
            con.close()

    worker = threading.Thread(target=work, name="sara-run-sql", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        stop.set()
        with contextlib.suppress(duckdb.Error):  # it may have finished (and closed) by now
            con.interrupt()
        worker.join(GRACE_S)
        if "error" not in outcome or not isinstance(outcome["error"], ResultTooLarge):
            raise InvalidInput(
                f"query exceeded {timeout_s:g} s and was stopped; narrow it down or aggregate",
                field="timeout_s",
                value=timeout_s,
            )
    if isinstance(outcome.get("error"), ResultTooLarge):
        raise InvalidInput(
            f"the result is larger than {MAX_RESULT_CHARS:,} characters; select fewer rows "
            "or shorter values",
            field="sql",
            value=sql,
        )
    if "error" in outcome:
        message = str(outcome["error"]).splitlines()[0]
        raise InvalidInput(f"the query failed: {message}", field="sql", value=sql)
    return outcome["columns"], outcome["rows"]


def run_sql(request: SqlInput, ctx: ToolContext) -> SqlOutput:
    """Run one read-only SQL SELECT (DuckDB dialect; WITH and UNION allowed) on the SARA
    warehouse, for analysts whose question the structured tools cannot answer. Only the
    warehouse tables are readable (students, scores, contributions, risk_factors,
    group_aggregates, model_metrics, calibration, fairness_groups, fairness_gaps, meta); files,
    table functions, settings and any write are refused. Results are capped at max_rows and
    max timeout_s seconds. Prefer query_equity for group comparisons: it adds confidence
    intervals and suppresses small groups, which raw SQL does not."""
    checked = check_sql(request.sql)
    limited = f"SELECT * FROM ({checked}) AS q LIMIT {int(request.max_rows) + 1}"
    columns, rows = _execute(ctx, limited, request.timeout_s)
    truncated = len(rows) > request.max_rows
    rows = rows[: request.max_rows]
    return SqlOutput(
        columns=columns,
        rows=[[json_safe(v) for v in r] for r in rows],
        row_count=len(rows),
        truncated=truncated,
        **stamp(ctx),
    )
