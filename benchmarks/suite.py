"""`sara bench`: speed, cost and scale of every stage, each beside the baseline people would use
instead, measured in the same run (ratios hold on a noisy shared machine; absolute times do
not). Every figure is the median of ``repeats`` runs unless the table says "1 run".

Stages: generation, pipeline, quality, scoring, explanations, single explanation, http, chat,
equity, planner, interventions, startup. ``--quick`` runs every stage at small sizes so the
suite cannot rot (`make test` does); the full run is `make bench`."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.report import markdown, plot_growth
from benchmarks.stages import build, equity, interventions, scoring, serving, startup
from benchmarks.stages.bench import Bench, Progress, Scale

# `markdown` and `plot_growth` live in `benchmarks.report`; the CLI reaches them through here.
__all__ = ["SCALES", "STAGES", "markdown", "plot_growth", "run"]

SCALES = {
    "quick": Scale(
        (5_000, 20_000), 3_000, (5_000, 20_000), 200, 30, (20_000, 50_000), 4, 2, (16,), 1,
    ),
    "full": Scale(
        (100_000, 1_000_000, 10_000_000), 100_000, (100_000, 1_000_000), 2_000, 300,
        (1_000_000, 10_000_000), None, 10, (16, 64), 3,
    ),
}  # fmt: skip
RUNNERS: dict[str, Callable[[Bench], dict]] = {
    "generation": build.generation,
    "pipeline": build.pipeline,
    "quality": build.quality,
    "scoring": scoring.scoring,
    "explanations": scoring.explanations,
    "single": scoring.single,
    "http": serving.http,
    "chat": serving.chat,
    "equity": equity.equity,
    "planner": equity.planner,
    "interventions": interventions.interventions,
    "startup": startup.startup,
}
STAGES = tuple(RUNNERS)


def run(
    quick: bool = False,
    only: list[str] | None = None,
    progress: Progress = print,
    folder: Path | None = None,
) -> dict:
    scale = SCALES["quick" if quick else "full"]
    stages = [s for s in STAGES if not only or s in only]
    root = folder or Path(tempfile.mkdtemp(prefix="sara-bench-"))
    bench = Bench(scale, root, progress)
    results: dict[str, Any] = {"mode": "quick" if quick else "full", "stages": {}}
    try:
        needs_workspace = set(stages) - {"generation"}
        if needs_workspace and "pipeline" not in stages:
            stages.insert(0, "pipeline")
        for stage in stages:
            progress(f"— {stage}")
            started = time.perf_counter()
            try:
                results["stages"][stage] = RUNNERS[stage](bench)
            except Exception as exc:  # report the failure; the other stages still measure
                progress(f"{stage} failed: {type(exc).__name__}: {exc}")
                results["stages"][stage] = {"error": f"{type(exc).__name__}: {exc}"}
            results["stages"][stage]["stage_seconds"] = round(time.perf_counter() - started, 1)
    finally:
        bench.close()
    return results
