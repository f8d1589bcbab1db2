"""The ground truth of a generated cohort: a Parquet sidecar beside the cohort file, keyed by
``StudentID``, with the true risk and the true risk under each intervention. The generator
writes it; the pipeline and the tools read it without importing the generator."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

TRUTH_SUFFIX = ".truth.parquet"
TRUTH_KEY = "StudentID"


def truth_path_for(path: Path) -> Path:
    """Where the ground truth of a generated cohort file lives."""
    return path.with_name(path.name.split(".")[0] + TRUTH_SUFFIX)


def truth_for(source: Path, frame: pd.DataFrame, id_column: str | None) -> pd.DataFrame | None:
    """The truth of ``source``'s students, one row per row of ``frame`` in its order; None when
    the file has no sidecar, the spec has no id column, or the sidecar belongs to another
    cohort (some students have no truth)."""
    path = truth_path_for(Path(source))
    if not path.is_file() or not id_column:
        return None
    sidecar = pd.read_parquet(path)
    truth = frame[[id_column]].merge(sidecar, left_on=id_column, right_on=TRUTH_KEY, how="left")
    if truth["true_risk"].isna().any():
        return None
    return truth
