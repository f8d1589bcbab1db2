"""Student ids: generated ones (prefix + zero-padded row number, ``S0000001``), ids read from a
file kept as text, the characters an id may not hold, and the numbering of repeated ids."""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

# Ids appear in URL paths ("/") and in logs and tables (control characters).
UNSAFE_ID = re.compile(r"[/\x00-\x1f\x7f-\x9f]")
RULE_ID_CHARS = "id must not contain '/' or control characters"
# A later row of a repeated id becomes ``id#2``, ``id#3``, … (repeated_ids: enrolments).
REPEAT_MARK = "#"


def student_ids(row_numbers: Iterable[int], total: int, prefix: str = "S") -> list[str]:
    """Ids for 1-based ``row_numbers`` of a table of ``total`` rows (width grows past 9,999,999)."""
    width = max(7, len(str(total)))
    return [f"{prefix}{number:0{width}d}" for number in row_numbers]


def id_text(raw: pd.Series) -> pd.Series:
    """Ids as text, verbatim but for surrounding whitespace (``" 00123 "`` → ``"00123"``); an
    empty id is missing. Whole numbers stored as floats (a numeric column with gaps) lose the
    ``.0`` a float would print."""
    text = raw.astype("string")
    if raw.dtype.kind == "f":
        whole = (raw.notna() & (raw == np.floor(raw))).to_numpy()
        if whole.any():
            text = text.copy()
            text[whole] = raw[whole].astype("int64").astype("string")
    text = text.str.strip()
    return text.mask(text.eq("").fillna(False).to_numpy(dtype=bool))


def unsafe_ids(ids: pd.Series) -> np.ndarray:
    """Which ids hold a character an id may not (``/`` or a control character)."""
    return ids.str.contains(UNSAFE_ID, regex=True).fillna(False).to_numpy(dtype=bool)


def enrolment_ids(ids: pd.Series) -> pd.Series:
    """Repeated ids made distinct in file order: the first row of an id keeps it, later rows get
    ``id#2``, ``id#3``, …; missing ids stay missing."""
    present = ids.notna().to_numpy()
    seen = ids[present]
    occurrence = seen.groupby(seen, sort=False).cumcount().to_numpy() + 1
    later = occurrence > 1
    if not later.any():
        return ids
    out = ids.copy()
    positions = np.flatnonzero(present)[later]
    out.iloc[positions] = [
        f"{value}{REPEAT_MARK}{n}"
        for value, n in zip(seen.to_numpy()[later], occurrence[later], strict=True)
    ]
    return out
