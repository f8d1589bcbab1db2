"""The DuckDB warehouse the tools read: students, scores, contributions, plain-words risk
factors, group aggregates, model and fairness metrics, and build metadata.

Publishing writes a complete new file beside the old one and renames it into place, so a
failed run never leaves a half-written warehouse and readers see either the old or the new.
A run killed while building leaves its temporary file behind; the next publish removes it."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import duckdb
import pandas as pd

from sara.errors import UserError

STAGING_INFIX = ".building-"
ATTACHED = "warehouse"  # the name a reader attaches the file under


class WarehouseUnavailable(UserError, RuntimeError):
    """The warehouse file exists but cannot be opened (locked by a writer, damaged)."""


TABLES = (
    "students",
    "scores",
    "contributions",
    "risk_factors",
    "group_aggregates",
    "model_metrics",
    "calibration",
    "fairness_groups",
    "fairness_gaps",
    "meta",
)


# The students with their scores in one table, for the queries over groups of students (equity,
# cohorts, listings): ``students`` joined to ``scores`` on a text id cost most of such a query.
# The score columns take names a spec cannot clash with (when one does, the table is left out
# and queries join the two tables, as before).
SCORED = "scored_students"
SCORED_SCORE_COLUMNS = {"risk_score": "sara$risk_score", "risk_level": "sara$risk_level"}
MAX_ENUM_VALUES = 10_000  # text columns with more distinct values stay text
WHAT_IF = "what_if"  # optional: the interventions' per-student terms (pipeline/what_if.py)


def build(path: Path, tables: dict[str, pd.DataFrame], id_column: str | None = None) -> None:
    """Write ``tables`` into a new DuckDB file at ``path`` (which must not exist); with the
    students' ``id_column``, also the one-table ``scored_students`` (see ``add_scored``), and
    the interventions' per-student terms (``what_if``) when given (see ``add_what_if``)."""
    missing = [name for name in TABLES if name not in tables]
    if missing:
        raise ValueError(f"warehouse tables missing: {', '.join(missing)}")
    with duckdb.connect(str(path)) as con:
        for name in TABLES:
            con.register("incoming", tables[name])
            con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM incoming')
            con.unregister("incoming")
        one_table = id_column is not None and add_scored(con, id_column)
        if WHAT_IF in tables:
            add_what_if(con, tables[WHAT_IF], id_column if one_table else None)
        con.execute("CHECKPOINT")


def add_what_if(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, id_column: str | None) -> None:
    """Create ``what_if`` from ``frame`` (one row per student, keyed by ``student_id``): in the
    row order of ``scored_students`` when ``id_column`` names that table's id (so the two are
    read side by side, see ``what_if_source``), else as given (joined on the id)."""
    con.register("incoming", frame)
    if id_column is None:
        con.execute(f"CREATE TABLE {WHAT_IF} AS SELECT * FROM incoming")
    else:
        con.execute(
            f"CREATE TABLE {WHAT_IF} AS SELECT w.* FROM "
            f"(SELECT rowid AS position, {quote(id_column)} AS id FROM {SCORED}) s "
            "JOIN incoming w ON w.student_id = s.id ORDER BY s.position"
        )
    con.unregister("incoming")


def add_scored(con: duckdb.DuckDBPyConnection, id_column: str) -> bool:
    """Create ``scored_students`` from ``students`` and ``scores`` on ``con``: every student's
    columns, text columns with few distinct values as ENUMs (grouping on them is several times
    faster), then the score columns under their reserved names, one row per student. False
    (and nothing created) when a student column already has a reserved name."""
    described = con.execute("DESCRIBE students").fetchall()
    if {row[0] for row in described} & set(SCORED_SCORE_COLUMNS.values()):
        return False
    replaced = []
    for name, dtype, *_ in described:
        if name == id_column or dtype != "VARCHAR":
            continue
        column = quote(name)
        values = con.execute(
            f"SELECT DISTINCT {column} FROM students WHERE {column} IS NOT NULL LIMIT ?",
            [MAX_ENUM_VALUES + 1],
        ).fetchall()
        if len(values) <= MAX_ENUM_VALUES:
            levels = ", ".join(_literal(v) for (v,) in sorted(values)) or "''"
            replaced.append(f"CAST(s.{column} AS ENUM({levels})) AS {column}")
    replace = f" REPLACE ({', '.join(replaced)})" if replaced else ""
    scored = ", ".join(f'c."{c}" AS "{alias}"' for c, alias in SCORED_SCORE_COLUMNS.items())
    con.execute(
        f"CREATE TABLE {SCORED} AS SELECT s.*{replace}, {scored} FROM students s "
        f"JOIN scores c ON s.{quote(id_column)} = c.student_id"
    )
    return True


def what_if_source(
    id_column: str, one_table: bool, enums: list[str] | None = None, native: bool = False
) -> str:
    """``scored_source`` with each student's intervention terms beside, as ``w``."""
    scored = scored_source(id_column, one_table, enums, native)
    if one_table:
        return f"{scored} POSITIONAL JOIN {WHAT_IF} w"
    return f"{scored} JOIN {WHAT_IF} w ON w.student_id = c.student_id"


def quote(name: str) -> str:
    """A SQL identifier (quoted; a double quote in it doubled)."""
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def scored_source(
    id_column: str, one_table: bool, enums: list[str] | None = None, native: bool = False
) -> str:
    """The FROM clause of a query over students and their scores, as ``s`` (the student's
    columns) and ``c`` (``student_id``, ``risk_score``, ``risk_level``): two aligned scans of
    ``scored_students`` when the warehouse has it (over ten times faster than the join on a
    text id), else ``students`` joined to ``scores``. The ``enums`` (the text columns stored as
    ENUMs) read as text, unless ``native`` (for aggregates that group and count: faster)."""
    quoted = quote(id_column)
    if not one_table:
        return f"students s JOIN scores c ON s.{quoted} = c.student_id"
    reserved = ", ".join(quote(alias) for alias in SCORED_SCORE_COLUMNS.values())
    scores = ", ".join(f"{quote(alias)} AS {c}" for c, alias in SCORED_SCORE_COLUMNS.items())
    columns = f"* EXCLUDE ({reserved})"
    if enums and not native:
        texts = ", ".join(f"CAST({quote(e)} AS VARCHAR) AS {quote(e)}" for e in enums)
        columns += f" REPLACE ({texts})"
    return (
        f"(SELECT {columns} FROM {SCORED}) s POSITIONAL JOIN "
        f"(SELECT {quoted} AS student_id, {scores} FROM {SCORED}) c"
    )


def publish(
    target: Path,
    tables: dict[str, pd.DataFrame],
    before_swap: Callable[[], None] | None = None,
    id_column: str | None = None,
) -> Path:
    """Build the warehouse under a temporary name, then atomically replace ``target``.
    ``before_swap`` runs once the new file is complete (e.g. moving the champion alias); if it
    fails, the old warehouse stays."""
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned(target)
    staging = target.with_name(f"{target.name}{STAGING_INFIX}{os.getpid()}")
    for leftover in (staging, staging.with_name(staging.name + ".wal")):
        leftover.unlink(missing_ok=True)
    try:
        build(staging, tables, id_column)
        if before_swap is not None:
            before_swap()
        os.replace(staging, target)
    finally:
        for leftover in (staging, staging.with_name(staging.name + ".wal")):
            leftover.unlink(missing_ok=True)
    return target


def remove_abandoned(target: Path) -> list[Path]:
    """Delete the temporary files of publishes whose process is gone (killed mid-build);
    a publish still running in another process keeps its own."""
    removed = []
    for path in target.parent.glob(f"{target.name}{STAGING_INFIX}*"):
        pid = path.name.removeprefix(f"{target.name}{STAGING_INFIX}").removesuffix(".wal")
        if pid.isdigit() and not process_alive(int(pid)):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` is running (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def open_read_only(path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the file at ``path`` now. ``duckdb.connect(path)`` would
    reuse the database this process already has open under that name, which after a publish
    is the replaced file; attaching from a fresh in-memory database always opens the current
    one, and holds that file (the same inode) open until the connection closes."""
    con = duckdb.connect(":memory:")
    try:
        quoted = str(path).replace("'", "''")
        con.execute(f"ATTACH '{quoted}' AS {ATTACHED} (READ_ONLY)")
        con.execute(f"USE {ATTACHED}")
    except BaseException:
        con.close()
        raise
    return con


def cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A connection of its own (for one thread) to the database ``con`` opened with
    ``open_read_only``: the same file and cache, without a second copy of either."""
    cur = con.cursor()
    try:
        cur.execute(f"USE {ATTACHED}")  # a cursor starts in the in-memory default database
    except BaseException:
        cur.close()
        raise
    return cur


def meta_of(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The build metadata of the warehouse ``con`` reads."""
    return dict(con.execute("SELECT key, value FROM meta").fetchall())


def unavailable(path: Path, exc: duckdb.Error) -> WarehouseUnavailable:
    reason = str(exc).splitlines()[0]
    return WarehouseUnavailable(
        f"the warehouse {path} cannot be opened ({reason}); if another process holds it "
        "open for writing, wait for it to finish or stop it"
    )


def read_meta(path: Path) -> dict[str, str] | None:
    """The warehouse's build metadata, or None when there is no warehouse. Raises
    ``WarehouseUnavailable`` when the file is there but cannot be read."""
    if not path.is_file():
        return None
    try:
        with open_read_only(path) as con:
            return meta_of(con)
    except duckdb.Error as exc:
        raise unavailable(path, exc) from None


def meta_table(values: dict[str, object]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "key": list(values),
            "value": [v if isinstance(v, str) else json.dumps(v) for v in values.values()],
        }
    )
