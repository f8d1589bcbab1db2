"""What the stages share: the sizes of a run, the workspace the real pipeline builds, and the
timing helpers."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sara.settings import Settings

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Scale:
    """The sizes a run measures at (``quick`` and ``full`` in `benchmarks.suite.SCALES`)."""

    generation: tuple[int, ...]
    pipeline: int
    scoring: tuple[int, ...]
    tree_rows: int
    single_calls: int
    equity: tuple[int, ...]
    chat_per_set: int | None
    http_seconds: float
    http_concurrency: tuple[int, ...]
    repeats: int


def median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median seconds of ``repeats`` calls (after none: callers warm up where it matters)."""
    times, value = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), value


def percentiles(samples: list[float]) -> dict[str, float]:
    values = np.asarray(samples) * 1000
    return {
        "p50_ms": round(float(np.percentile(values, 50)), 3),
        "p95_ms": round(float(np.percentile(values, 95)), 3),
        "p99_ms": round(float(np.percentile(values, 99)), 3),
    }


class Bench:
    """One run of the suite: a workspace built by the real pipeline, shared by the stages."""

    def __init__(self, scale: Scale, folder: Path, progress: Progress):
        self.scale, self.folder, self.progress = scale, folder, progress
        self.settings = Settings(home=folder / "ws")
        self._ctx = None
        self._frames: dict[int, pd.DataFrame] = {}

    @property
    def ctx(self):
        if self._ctx is None:
            from tools.context import load_context

            self._ctx = load_context(self.settings)
        return self._ctx

    def close(self) -> None:
        """Close the context (its warehouse file); a later stage loads a fresh one."""
        if self._ctx is not None:
            self._ctx.close()
            self._ctx = None

    def cohort(self, rows: int) -> pd.DataFrame:
        """A generated cohort of ``rows`` students (another seed than the training one)."""
        if rows not in self._frames:
            from data.synthetic.cohort import generate_frame

            frame, truth = generate_frame(rows, seed=101)
            frame["true_risk"] = truth["true_risk"].to_numpy()
            self._frames = {rows: frame}  # keep one size in memory at a time
        return self._frames[rows]

    def split(self):
        """The pipeline's own train/test split of the workspace cohort (same seed)."""
        from pipeline.steps import read_step, split_step, validate_step

        source, spec = self.settings.default_cohort_path, self.ctx.spec
        dataset = validate_step(read_step(source, spec), source, spec, self.settings)
        return split_step(dataset, self.settings)
