"""Top risk factors in plain words ("Low attendance (82 %)"), built from each student's
contributions and feature values with the spec's labels, formats and phrases. Works for any
spec: columns without phrases get a generic "Low/High <label> (<value>)"."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from data.spec import ColumnSpec, DatasetSpec
from pipeline.explain import Contributions


def format_value(column: ColumnSpec, value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "missing"
    words = column.words_for(value)
    if words:
        return words
    if column.format == "percent":
        return f"{float(value) * 100:.0f} %"
    if column.format == "hours":
        return f"{float(value):.1f} h"
    if column.dtype in ("int", "bool"):
        return str(int(value))
    if column.dtype == "float":
        return f"{float(value):.3g}"
    return str(value)


def phrase(column: ColumnSpec, value, reference: float | None) -> str:
    """How a teacher would read this value as a risk factor."""
    shown = format_value(column, value)
    if column.dtype == "category" or column.dtype == "string":
        return column.phrases.get("high", f"{column.display_name.capitalize()}: {{value}}").format(
            value=shown
        )
    if column.dtype == "bool":
        side = "high" if int(value) == 1 else "low"
        default = (
            column.display_name.capitalize() if side == "high" else f"No {column.display_name}"
        )
    else:
        side = "low" if reference is not None and float(value) < reference else "high"
        default = f"{side.capitalize()} {column.display_name} ({{value}})"
    return column.phrases.get(side, default).format(value=shown)


def top_risk_factors(
    spec: DatasetSpec,
    frame: pd.DataFrame | Mapping[str, Sequence],
    contribs: Contributions,
    reference: dict[str, float],
    top: int = 3,
) -> list[list[dict]]:
    """For each row: up to ``top`` features that raise its risk most, largest first. ``frame``
    holds the rows' feature values (a DataFrame, or columns as lists)."""
    columns = [spec.column(f) for f in contribs.features]
    order = np.argsort(-contribs.values, axis=1, kind="stable")[:, :top]
    values = {f: np.asarray(frame[f], dtype=object) for f in contribs.features}
    factors = []
    for i, row_order in enumerate(order):
        row = []
        for j in row_order:
            contribution = float(contribs.values[i, j])
            if contribution <= 0:
                break
            column = columns[j]
            value = values[column.name][i]
            row.append(
                {
                    "feature": column.name,
                    "value": value,
                    "contribution": contribution,
                    "phrase": phrase(column, value, reference.get(column.name)),
                }
            )
        factors.append(row)
    return factors
