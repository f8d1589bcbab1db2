"""The ground truth of a generated cohort: a Parquet sidecar beside the cohort file whose first
column is the student key (the generator names it after the cohort's id column), with the true
risk and the true risk under each intervention. The generator writes it; the pipeline and the
tools read it without importing the generator, and without knowing any schema's column names."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

TRUTH_SUFFIX = ".truth.parquet"


def truth_path_for(path: Path) -> Path:
    """Where the ground truth of a generated cohort file lives."""
    return path.with_name(path.name.split(".")[0] + TRUTH_SUFFIX)


def read_truth(path: Path, columns: list[str] | None = None) -> pd.DataFrame | None:
    """The sidecar at ``path`` indexed by its key (its first column), with ``columns`` (those
    present; all by default); None when there is no sidecar or it has no ``true_risk``."""
    if not path.is_file():
        return None
    names = pq.read_schema(path).names
    if len(names) < 2 or "true_risk" not in names:
        return None
    key = names[0]
    wanted = names[1:] if columns is None else [c for c in columns if c in names and c != key]
    return pd.read_parquet(path, columns=[key, *wanted]).set_index(key)


def truth_for(source: Path, frame: pd.DataFrame, id_column: str | None) -> pd.DataFrame | None:
    """The truth of ``source``'s students, one row per row of ``frame`` in its order; None when
    the file has no sidecar, the spec has no id column, or the sidecar belongs to another
    cohort (some students have no truth)."""
    sidecar = read_truth(truth_path_for(Path(source))) if id_column else None
    if sidecar is None:
        return None
    truth = sidecar.reindex(pd.Index(frame[id_column].to_numpy())).reset_index(drop=True)
    if truth["true_risk"].isna().any():
        return None
    truth.insert(0, id_column, frame[id_column].to_numpy())
    return truth
