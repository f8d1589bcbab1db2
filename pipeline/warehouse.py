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


def build(path: Path, tables: dict[str, pd.DataFrame]) -> None:
    """Write ``tables`` into a new DuckDB file at ``path`` (which must not exist)."""
    missing = [name for name in TABLES if name not in tables]
    if missing:
        raise ValueError(f"warehouse tables missing: {', '.join(missing)}")
    with duckdb.connect(str(path)) as con:
        for name in TABLES:
            con.register("incoming", tables[name])
            con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM incoming')
            con.unregister("incoming")
        con.execute("CHECKPOINT")


def publish(
    target: Path, tables: dict[str, pd.DataFrame], before_swap: Callable[[], None] | None = None
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
        build(staging, tables)
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
