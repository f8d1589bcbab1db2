"""Disclosure control for the aggregates a caller below the staff role reads.

Staff and above read exact aggregates (and every student-level read is audited). A viewer reads
only aggregates, and an exact aggregate can be differenced: two cells that differ by one student
give that student's value. So a viewer's cells are protected by statistical disclosure control
in the manner of the cell-key method national statistics offices use for flexible tables
(Australian Bureau of Statistics TableBuilder; the UK 2021 Census):

- **Record keys and cell keys.** Each student has a secret record key (a keyed hash of the id with
  the workspace's secret). A cell's key is the sum of its students' record keys, so the same set
  of students always gets the same cell key however the query was phrased, and two cells that
  differ by even one student get unrelated keys.
- **Consistent noise.** Each released count is moved by an integer drawn from the cell key
  (standard deviation ``disclosure_count_noise``), and each released sum of a numeric column by
  ``disclosure_sum_noise`` times the column's range (one student's largest possible
  contribution). Repeating a query, or asking the same cell another way, returns the same noise,
  so it cannot be averaged away; the difference of two cells is the difference of two unrelated
  noises.
- **Thresholds on cells and their complements.** A cell with fewer than ``min_group_size``
  students, or whose complement within its scope (or within all students) is smaller than that
  but not empty, is suppressed, and a suppressed cell shows neither its value nor its size.
- **Small tables.** A viewer's query may cross at most ``disclosure_max_dimensions`` columns
  (filters and groups together), as published statistics do; the outcome's source columns
  (the grades the outcome is defined from) cannot be averaged.
- **A daily limit** on the distinct tables one viewer key may read (api/budget.py), so the many
  differences that averaging noise away would need are out of reach; every viewer query is
  audited.

The audience of a call is set by the tool session (``audience``): exact for staff and above,
protected below. Code that computes aggregates asks ``protected()``."""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SECRET_FILE = "disclosure.key"
KEY_SPACE = 1 << 64

# Meter: called with each distinct table a protected caller reads, before it is computed; it
# raises ``LimitReached`` when the caller's limit is used up (api/budget.py keeps the count).
Meter = Callable[[str], None]

_protected: ContextVar[bool] = ContextVar("sara_protected_aggregates", default=False)
_meter: ContextVar[Meter | None] = ContextVar("sara_table_meter", default=None)


@contextmanager
def audience(protected_output: bool, meter: Meter | None = None) -> Iterator[None]:
    """Within this block, aggregates are computed for a caller who reads them protected, each
    distinct table counted by ``meter``."""
    token = _protected.set(protected_output)
    meter_token = _meter.set(meter if protected_output else None)
    try:
        yield
    finally:
        _meter.reset(meter_token)
        _protected.reset(token)


def protected() -> bool:
    """True when the current tool call's aggregates must be disclosure-controlled."""
    return _protected.get()


def charge(table: object) -> None:
    """Count one table a protected caller is about to read (identified by what defines it:
    metric, groups and filters, normalised), against the caller's limit."""
    meter = _meter.get()
    if meter is not None:
        text = json.dumps(table, sort_keys=True, default=str)
        meter(hashlib.sha256(text.encode()).hexdigest()[:32])


def workspace_secret(home: Path) -> str:
    """The workspace's secret for record keys, created on first use (mode 0600). Every server
    worker reads the same file, so every worker gives the same noise."""
    path = home / SECRET_FILE
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    home.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker made it first
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(32))
    return path.read_text(encoding="ascii").strip()


def cell_key_sql(id_expression: str) -> str:
    """The SQL aggregate whose value (mod 2**64) is a cell's key; one ``?`` takes the secret."""
    return f"sum(hash({id_expression} || ?))"


@dataclass(frozen=True)
class Noise:
    """The noise of one cell: drawn from its key, the statistic's name and the secret, so the same
    cell and statistic always give the same draw."""

    cell_key: int
    secret: str

    def _rng(self, stream: str) -> np.random.Generator:
        digest = hashlib.sha256(f"{self.secret}|{self.cell_key % KEY_SPACE}|{stream}".encode())
        return np.random.default_rng(int.from_bytes(digest.digest()[:16], "big"))

    def count(self, stream: str, sd: float) -> int:
        """An integer perturbation with mean 0 and standard deviation about ``sd``."""
        if sd <= 0:
            return 0
        return round(float(self._rng(stream).normal(0.0, sd)))

    def magnitude(self, stream: str, scale: float) -> float:
        """A perturbation of a sum, with mean 0 and standard deviation ``scale``."""
        if scale <= 0:
            return 0.0
        return float(self._rng(stream).normal(0.0, scale))


def widen(low: float | None, high: float | None, centre: float, extra_sd: float,
          z: float) -> tuple[float | None, float | None]:  # fmt: skip
    """A confidence interval widened (in quadrature) by the noise a released value carries."""
    if low is None or high is None or extra_sd <= 0:
        return low, high
    below = math.hypot(centre - low, z * extra_sd)
    above = math.hypot(high - centre, z * extra_sd)
    return centre - below, centre + above


def complement_too_small(n: int, scope: int, min_size: int) -> bool:
    """A cell that is all but a handful of its scope gives that handful away by difference."""
    return 0 < scope - n < min_size


NOTE = (
    "protected for a viewer key: counts and values carry small consistent noise (the cell-key "
    "method), intervals are widened by it, and cells of fewer than the minimum group size — or "
    "all but fewer than that many of their scope — are hidden"
)
# Charts drawn from protected numbers; the only charts a viewer key may fetch.
CHART_PREFIX = "protected-"
