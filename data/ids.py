"""Stable student ids: prefix + zero-padded row number (``S0000001``)."""

from __future__ import annotations

from collections.abc import Iterable


def student_ids(row_numbers: Iterable[int], total: int, prefix: str = "S") -> list[str]:
    """Ids for 1-based ``row_numbers`` of a table of ``total`` rows (width grows past 9,999,999)."""
    width = max(7, len(str(total)))
    return [f"{prefix}{number:0{width}d}" for number in row_numbers]
