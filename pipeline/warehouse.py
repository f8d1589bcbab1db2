"""The DuckDB warehouse the tools read: students, scores, contributions, plain-words risk
factors, group aggregates, model and fairness metrics, and build metadata.

Publishing writes a complete new file beside the old one and renames it into place, so a
failed run never leaves a half-written warehouse and readers see either the old or the new."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import duckdb
import pandas as pd

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
    staging = target.with_name(f"{target.name}.building-{os.getpid()}")
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


def read_meta(path: Path) -> dict[str, str] | None:
    """The warehouse's build metadata, or None when there is no warehouse."""
    if not path.is_file():
        return None
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute("SELECT key, value FROM meta").fetchall()
    return dict(rows)


def meta_table(values: dict[str, object]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "key": list(values),
            "value": [v if isinstance(v, str) else json.dumps(v) for v in values.values()],
        }
    )
