"""run_sql: one read-only SELECT over the warehouse for analysts, parsed and checked with
sqlglot before it runs, then run in a sandbox process (tools/sql_sandbox.py) with a row, size,
memory and time limit that hold whatever the query builds: the process has an address-space
limit and is killed at the timeout, and the sandbox's DuckDB has the warehouse attached
read-only, external access disabled and the configuration locked, so even SQL the parser
misjudges can read no file, write nothing, change no setting and take no server memory.

The audit log learns which students a result shows (``SqlOutput.students_read``), whatever the
columns are called:

- attributed: every value of a column named like an id (``student_id``, the spec's id column);
  every string in the result (any column, any alias, inside lists, structs and map keys) and
  every string literal of the query that equals a warehouse id, ignoring case and surrounding
  spaces (``SELECT <id> AS x``, ``lower(<id>)``, an id rebuilt by concatenation, ``WHERE <id> =
  '…'``);
- not attributed: rows that show no id (``SELECT <grade> FROM students WHERE <id> <> '…'``
  names only the one student), an id inside a longer string (``'id: ' || <id>``), hashed or
  cut (``md5(<id>)``, ``substr(<id>, 2)``), or as a number. The audit entry keeps the SQL
  itself for those."""

from __future__ import annotations

from typing import Any

import sqlglot
from pydantic import Field, PrivateAttr
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.scope import Scope, traverse_scope
from sqlglot.tokens import TokenType

from pipeline.warehouse import TABLES
from tools import sql_sandbox
from tools.base import ToolInput, ToolOutput, stamp
from tools.context import RUN_PIPELINE, ToolContext
from tools.errors import InvalidInput, NotReady
from tools.policy import refuse_protected_selection

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
MAX_RESULT_CHARS = 20_000_000  # about the size of the JSON answer
_END = object()


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
    # Warehouse ids the result shows or the query names, found by value (see the module's
    # docstring); kept for the audit log, never sent.
    _ids_found: list[str] = PrivateAttr(default_factory=list)

    def students_read(self, id_column: str) -> list[str]:
        """The values of every result column named like a student id, then every warehouse id
        the result shows under another name or the query names."""
        keys = {"student_id", id_column}
        at = [i for i, name in enumerate(self.columns) if name in keys]
        named = [str(row[i]) for row in self.rows for i in at if row[i] is not None]
        return list(dict.fromkeys([*named, *self._ids_found]))


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


def _execute(ctx: ToolContext, sql: str, timeout_s: float) -> sql_sandbox.Result:
    """Run ``sql`` in a sandbox process; every way it can fail is a ``ToolError``."""
    path = ctx.settings.warehouse_path
    if not path.is_file():
        raise NotReady(f"the warehouse {path} is missing; {RUN_PIPELINE}")
    try:
        return sql_sandbox.run(path, sql, timeout_s, MAX_RESULT_CHARS)
    except sql_sandbox.QueryTimedOut as exc:
        busy = " (waiting for a free SQL sandbox)" if exc.waited else ""
        raise InvalidInput(
            f"query exceeded {timeout_s:g} s{busy} and was stopped; narrow it down or aggregate",
            field="timeout_s",
            value=timeout_s,
        ) from None
    except sql_sandbox.QueryOutOfMemory as exc:
        how = (
            "and was stopped"
            if exc.exit_code is None
            else f"(its sandbox process ended with code {exc.exit_code})"
        )
        raise InvalidInput(
            f"query exceeded the memory limit of {exc.memory_mb:,} MB {how}; build smaller "
            "values, narrow it down or aggregate",
            field="sql",
            value=sql,
        ) from None
    except sql_sandbox.ResultTooLarge:
        raise InvalidInput(
            f"the result is larger than {MAX_RESULT_CHARS:,} characters; select fewer rows "
            "or shorter values",
            field="sql",
            value=sql,
        ) from None
    except sql_sandbox.QueryFailed as exc:
        raise InvalidInput(f"the query failed: {exc}", field="sql", value=sql) from None
    except (sql_sandbox.WarehouseUnavailable, sql_sandbox.SandboxUnavailable) as exc:
        raise NotReady(f"the warehouse {path} cannot be opened for SQL ({exc})") from None


def _strings(values: list[Any], found: dict[str, None]) -> None:
    """Every string in ``values``, nested lists and dicts (keys too) included, into ``found``
    in the order they appear."""
    stack = [iter(values)]
    while stack:
        value = next(stack[-1], _END)
        if value is _END:
            stack.pop()
        elif isinstance(value, str):
            found[value] = None
        elif isinstance(value, list):
            stack.append(iter(value))
        elif isinstance(value, dict):
            stack.append(iter([item for pair in value.items() for item in pair]))


def _literals(sql: str) -> list[str]:
    """The string literals of ``sql``."""
    try:
        tokens = sqlglot.tokenize(sql, read="duckdb")
    except SqlglotError:
        return []
    return [t.text for t in tokens if t.token_type in (TokenType.STRING, TokenType.RAW_STRING)]


def _id_lengths(ctx: ToolContext) -> tuple[int, int]:
    """The shortest and the longest id's length ((0, -1) with no students)."""
    column = _quoted(ctx.id_column)
    sql = f"SELECT min(length({column})), max(length({column})) FROM students"
    low, high = ctx.connection().execute(sql).fetchone()
    return (0, -1) if low is None else (int(low), int(high))


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def ids_shown(ctx: ToolContext, rows: list[list[Any]], sql: str) -> list[str]:
    """The warehouse ids that a string of ``rows`` or a string literal of ``sql`` equals,
    ignoring case and surrounding spaces, in the order they first appear. Strings whose length
    no id has are not looked up; the rest take one query."""
    found: dict[str, None] = {}
    _strings([*rows, _literals(sql)], found)
    if not found:
        return []
    low, high = ctx.cached("run_sql_id_lengths", _id_lengths)
    wanted: dict[str, None] = {}
    for text in found:
        key = text.strip().lower()
        if low <= len(key) <= high:
            wanted[key] = None
    if not wanted:
        return []
    column = _quoted(ctx.id_column)
    matches = ctx.connection().execute(
        f"SELECT DISTINCT {column}, lower({column}) FROM students "
        f"WHERE lower({column}) IN (SELECT unnest(?))",
        [list(wanted)],
    )
    by_key: dict[str, list[str]] = {}
    for student, key in matches.fetchall():
        by_key.setdefault(key, []).append(str(student))
    return [student for key in wanted for student in by_key.get(key, [])]


def run_sql(request: SqlInput, ctx: ToolContext) -> SqlOutput:
    """Run one read-only SQL SELECT (DuckDB dialect; WITH and UNION allowed) on the SARA
    warehouse, for analysts whose question the structured tools cannot answer. Only the
    warehouse tables are readable (students, scores, contributions, risk_factors,
    group_aggregates, model_metrics, calibration, fairness_groups, fairness_gaps, meta); files,
    table functions, settings and any write are refused. Results are capped at max_rows rows,
    timeout_s seconds and a fixed memory limit. Prefer query_equity for group comparisons: it
    adds confidence intervals and suppresses small groups, which raw SQL does not."""
    checked = check_sql(request.sql)
    limited = f"SELECT * FROM ({checked}) AS q LIMIT {int(request.max_rows) + 1}"
    result = _execute(ctx, limited, request.timeout_s)
    if result.built_at is not None and result.built_at != ctx.data_timestamp:
        raise NotReady(
            "the warehouse this request started on was replaced by a newer publish while it "
            "ran; send the request again"
        )
    truncated = len(result.rows) > request.max_rows
    rows = result.rows[: request.max_rows]
    output = SqlOutput(
        columns=result.columns,
        rows=rows,
        row_count=len(rows),
        truncated=truncated,
        **stamp(ctx),
    )
    output._ids_found = ids_shown(ctx, rows, checked)
    if output.students_read(ctx.id_column):  # a list of students: never selected by protected
        refuse_protected_selection(ctx.spec, selecting_columns(checked))
    return output


# Where a column selects or ranks rows: filters, joins, groups' filters and orderings.
_SELECTING = (exp.Where, exp.Having, exp.Qualify, exp.Order, exp.Join, exp.Window)


def selecting_columns(sql: str) -> set[str]:
    """The columns a (checked) query filters, joins, or orders its rows by."""
    named: set[str] = set()
    for statement in sqlglot.parse(sql, dialect="duckdb"):
        if statement is None:
            continue
        for clause in statement.find_all(*_SELECTING):
            named.update(c.name for c in clause.find_all(exp.Column))
    return named
