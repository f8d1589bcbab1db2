"""What a pipeline run carries from stage to stage: the request, each stage's typed output,
the timer of its steps and the result. Plain data, saved between Airflow tasks."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

import pandas as pd

from data.spec import DatasetSpec
from pipeline.champion import Decision
from pipeline.evaluate import Evaluation, Selection
from pipeline.registry import ChampionInfo
from pipeline.steps import Dataset, SplitData
from pipeline.train import FittedCandidate

Progress = Callable[[str], None]
# "promoted"; "kept" (the challenger was not better); "reused" (the champion was trained on this
# data and is republished); "unchanged" (champion and warehouse already come from this data).
Status = Literal["promoted", "kept", "reused", "unchanged"]
T = TypeVar("T")


@dataclass
class PipelineResult:
    status: Status
    model_version: str | None
    candidate: str | None
    reason: str
    fingerprint: str
    run_id: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    report_path: Path | None = None
    warehouse_path: Path | None = None
    rows: int = 0
    quarantined: int = 0
    # The served model's fairness gate in plain words, and what happened when no candidate
    # met the fairness limits ("none", "kept_champion" or "promoted_with_warning").
    fairness: str = ""
    fairness_fallback: str = "none"


class Timer:
    def __init__(self, progress: Progress, timings: dict[str, float] | None = None):
        self.progress = progress
        self.timings = {} if timings is None else timings

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        self.progress(f"{name} …")
        started = time.perf_counter()
        yield
        self.timings[name] = time.perf_counter() - started
        self.progress(f"{name} done in {self.timings[name]:.1f} s")


@dataclass(frozen=True)
class RunRequest:
    """What the run was asked to do."""

    spec: DatasetSpec
    feature_set: str
    data: Path | None = None  # None: generated, or the workspace cohort
    generate: int | None = None  # rows to generate first
    encoding: str | None = None  # of a CSV input; None: detected


@dataclass
class Ingested:
    """Set by ingest: the input file and its rows as read (dropped once validated)."""

    source: Path
    raw: pd.DataFrame | None


@dataclass
class Validated:
    """Set by validate: the valid rows, their fingerprint, and the champion before this run."""

    dataset: Dataset
    fingerprint: str
    current: ChampionInfo | None
    same_model: bool  # the champion was trained on this data and these settings


@dataclass
class Trained:
    """Set by train: the train/test split and every fitted candidate."""

    split: SplitData
    fitted: dict[str, FittedCandidate]


@dataclass
class Evaluated:
    """Set by evaluate: the test-set evaluations, the selected candidate, the promotion."""

    evaluations: dict[str, Evaluation]
    selection: Selection
    decision: Decision


@dataclass
class Registered:
    """Set by register: the MLflow run and the newly registered version (None: none was)."""

    run_id: str
    version: str | None


@dataclass
class PipelineRun:
    """What one run carries from stage to stage: the request, each stage's output once it has
    run, and ``result`` when the run is over."""

    request: RunRequest
    timings: dict[str, float] = field(default_factory=dict)
    ingested: Ingested | None = None
    validated: Validated | None = None
    trained: Trained | None = None
    evaluated: Evaluated | None = None
    registered: Registered | None = None
    result: PipelineResult | None = None


def after(stage: str, output: T | None) -> T:
    """The output of an earlier stage, which must have run."""
    if output is None:
        raise RuntimeError(f"the {stage} stage has not run on this pipeline run yet")
    return output
