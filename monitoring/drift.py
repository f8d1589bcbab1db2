"""Input drift: the population stability index (PSI) of the records served for scoring against
the population the model was trained and published on.

The reference is a fixed random sample of the published ``students`` table, binned per model
feature: numeric features with many values at their deciles, others by value (plus one bin for
values the reference never had). Served records fill a window of counts; once it holds
``min_rows`` records the PSI of each feature is recomputed on every batch, and a full window
(``window`` records) starts a new one, so the figure follows what is being served now.

PSI = Σ (served share − reference share) · ln(served share / reference share), shares floored
at 1e-4. Common reading: below 0.1 stable, 0.1–0.25 a moderate shift, above 0.25 a large one.
Only records sent for scoring count: students looked up by id are the reference itself."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from monitoring import metrics

if TYPE_CHECKING:
    from tools.session import ToolEvent

REFERENCE_SAMPLE = 100_000
MIN_SHARE = 1e-4
MAX_CATEGORIES = 12


@dataclass
class Bins:
    """How one feature is binned, and the reference's share in each bin."""

    feature: str
    edges: np.ndarray | None  # numeric: inner edges; else None
    categories: list[str] | None  # by value: the reference's values; the last bin is "other"
    reference: np.ndarray

    @classmethod
    def fit(cls, feature: str, values: pd.Series) -> Bins:
        values = values.dropna()
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        if numeric and values.nunique() > MAX_CATEGORIES:
            edges = np.unique(np.quantile(values.to_numpy(float), np.linspace(0.1, 0.9, 9)))
            bins = cls(feature, edges, None, np.empty(0))
        else:
            categories = sorted(values.astype(str).unique().tolist())
            bins = cls(feature, None, categories, np.empty(0))
        bins.reference = bins.shares(bins.counts(values.tolist()))
        return bins

    @property
    def size(self) -> int:
        return len(self.edges) + 1 if self.edges is not None else len(self.categories) + 1

    def counts(self, values: Sequence[Any]) -> np.ndarray:
        """Counts per bin; values that are missing or not numbers (for a numeric feature) are
        left out."""
        if self.edges is not None:
            try:
                numbers = np.asarray(values, dtype=float)  # numbers, numeric strings, None
            except (TypeError, ValueError):
                series = pd.Series(values, dtype=object)
                numbers = pd.to_numeric(series, errors="coerce").to_numpy(float)
            numbers = numbers[~np.isnan(numbers)]
            index = np.searchsorted(self.edges, numbers, side="right")
        else:
            lookup = {c: i for i, c in enumerate(self.categories)}
            other = len(self.categories)
            index = np.array(
                [lookup.get(str(v), other) for v in values if v is not None and v == v], dtype=int
            )
        return np.bincount(index, minlength=self.size)

    @staticmethod
    def shares(counts: np.ndarray) -> np.ndarray:
        total = counts.sum()
        return counts / total if total else np.zeros(len(counts))


def psi(reference: np.ndarray, served: np.ndarray) -> float:
    expected = np.maximum(reference, MIN_SHARE)
    actual = np.maximum(served, MIN_SHARE)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


class DriftMonitor:
    """Served-input counts per feature in a window that starts again when full, and their
    PSI against the reference. Thread-safe; one per process (each worker reports on what it
    served)."""

    def __init__(self, bins: list[Bins], window: int = 5_000, min_rows: int = 200):
        self.bins, self.window, self.min_rows = bins, window, min_rows
        self._lock = threading.Lock()
        self._counts = {b.feature: np.zeros(b.size, dtype=np.int64) for b in bins}
        self._rows = 0

    @classmethod
    def from_frame(cls, reference: pd.DataFrame, features: Sequence[str], **options):
        return cls([Bins.fit(f, reference[f]) for f in features], **options)

    @classmethod
    def from_context(cls, ctx, **options) -> DriftMonitor:
        """The reference: a repeatable random sample of the published students."""
        features = list(ctx.model.features)
        columns = ", ".join(f'"{f}"' for f in features)
        sample = ctx.sql(
            f"SELECT {columns} FROM students "
            f"USING SAMPLE reservoir({REFERENCE_SAMPLE} ROWS) REPEATABLE (7)"
        )
        return cls.from_frame(sample, features, **options)

    def observe(self, records: Sequence[Mapping[str, Any]]) -> dict[str, float] | None:
        """Add served records; the PSI per feature once the window holds enough records."""
        if not records:
            return None
        batch = {b.feature: b.counts([r.get(b.feature) for r in records]) for b in self.bins}
        with self._lock:
            if self._rows >= self.window:
                for counts in self._counts.values():
                    counts[:] = 0
                self._rows = 0
            for feature, counts in batch.items():
                self._counts[feature] += counts
            self._rows += len(records)
            if self._rows < self.min_rows:
                return None
            return {
                b.feature: psi(b.reference, Bins.shares(self._counts[b.feature])) for b in self.bins
            }

    @property
    def rows(self) -> int:
        return self._rows


def observe_drift(event: ToolEvent) -> None:
    """A tool session observer: feeds the records a successful call scored or explained to the
    served model's drift monitor (built on first use from the published students) and exports
    the PSI per feature."""
    records = event.request.served_records() if event.request is not None else []
    if not records or event.output is None:
        return
    monitor = event.context.cached("drift", DriftMonitor.from_context)
    metrics.observe_drift(monitor.observe(records), len(records))
