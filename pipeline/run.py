"""Run the whole pipeline: ingest → validate → train → evaluate → register → publish, with
per-step timings, an MLflow run per candidate, a report, and champion/challenger promotion.
Re-running on the same data and settings is a no-op.

Each stage is a function of one ``PipelineRun``. `sara pipeline run` calls them in turn in one
process; the Airflow DAG (`pipeline/dags/`) runs each as a task, saving the run between tasks
with `run_stage` and passing only the saved file's path."""

from __future__ import annotations

import logging
import os
import pickle
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from data.spec import DatasetSpec, load_spec
from pipeline import registry, report, tracking, warehouse
from pipeline.evaluate import Evaluation, Selection, evaluate, select_champion
from pipeline.faults import require_free_space
from pipeline.features import model_features
from pipeline.steps import (
    Dataset,
    SplitData,
    evaluate_step,
    fingerprint,
    read_step,
    resolve_source,
    score_step,
    split_step,
    train_step,
    validate_step,
    warehouse_tables,
)
from pipeline.train import FittedCandidate
from sara.settings import Settings

log = logging.getLogger(__name__)
Progress = Callable[[str], None]


@dataclass
class PipelineResult:
    status: str  # "promoted", "kept" (challenger not better), "reused" (same data), "unchanged"
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


@dataclass
class PipelineRun:
    """What one run carries from stage to stage; ``result`` is set when the run is over."""

    spec: DatasetSpec
    feature_set: str
    data: Path | None = None
    generate: int | None = None
    timings: dict[str, float] = field(default_factory=dict)
    encoding: str | None = None  # of a CSV input; None: detected
    source: Path | None = None
    raw: pd.DataFrame | None = None
    dataset: Dataset | None = None
    fp: str | None = None
    current: object | None = None  # the champion's registry entry before this run
    same_model: bool = False
    split: SplitData | None = None
    fitted: dict[str, FittedCandidate] | None = None
    evaluations: dict[str, Evaluation] | None = None
    selection: Selection | None = None
    decision: Decision | None = None
    run_id: str | None = None
    version: str | None = None
    result: PipelineResult | None = None


def start_run(
    settings: Settings,
    data: Path | None = None,
    generate: int | None = None,
    spec_path: Path | None = None,
    feature_set: str | None = None,
    encoding: str | None = None,
) -> PipelineRun:
    spec = load_spec(spec_path or settings.spec_path)
    feature_set = feature_set or settings.feature_set
    model_features(spec, feature_set)  # refuse an unknown feature set before any work
    settings.ensure_workspace()
    return PipelineRun(spec, feature_set, data, generate, encoding=encoding)


def ingest(run: PipelineRun, settings: Settings, timer: Timer) -> None:
    with timer.step("ingest"):
        run.source = resolve_source(settings, run.data, run.generate)
        run.raw = read_step(run.source, run.spec, run.encoding)
    timer.progress(f"{len(run.raw):,} rows read from {run.source}")


def validate(run: PipelineRun, settings: Settings, timer: Timer) -> None:
    """Validate (the data-quality gate raises ``DataQualityError``); finish the run here when
    the champion and warehouse already come from this data and these settings."""
    with timer.step("validate"):
        dataset = run.dataset = validate_step(run.raw, run.source, run.spec, settings)
        run.raw = None
    timer.progress(
        f"{dataset.report.n_valid:,} valid rows, {dataset.report.n_quarantined:,} quarantined"
    )
    run.fp = fingerprint(dataset, run.spec, run.feature_set, settings)
    client = registry.configure(settings)
    current = run.current = registry.champion_info(client, settings.model_name)
    run.same_model = current is not None and current.tags.get("fingerprint") == run.fp
    meta = warehouse.read_meta(settings.warehouse_path)
    # The warehouse already holds this data scored by the champion: whether that champion
    # was trained on it or kept against a challenger trained on it, a re-run changes nothing.
    if (
        current is not None
        and meta
        and meta.get("fingerprint") == run.fp
        and meta.get("model_version") == str(current.version)
    ):
        run.result = PipelineResult(
            "unchanged",
            current.version,
            current.tags.get("candidate"),
            "the champion and warehouse already come from this data and "
            "these settings; nothing to do",
            run.fp,
            timings=run.timings,
            warehouse_path=settings.warehouse_path,
            rows=len(dataset.frame),
        )


def train(run: PipelineRun, settings: Settings, timer: Timer) -> None:
    meta = warehouse.read_meta(settings.warehouse_path) or {}
    require_free_space(
        settings.home,
        settings.warehouse_path,
        len(run.dataset.frame),
        int(meta["rows"]) if str(meta.get("rows", "")).isdigit() else None,
    )
    with timer.step("split"):
        run.split = split_step(run.dataset, settings)
    with timer.step("train + calibrate"):
        run.fitted = train_step(run.split, run.spec, run.feature_set, settings, timer.progress)


def evaluate_candidates(run: PipelineRun, settings: Settings, timer: Timer) -> None:
    """Evaluate every candidate, select the champion and decide whether it is promoted."""
    spec, fitted = run.spec, run.fitted
    with timer.step("evaluate + fairness"):
        run.evaluations = evaluate_step(run.split, fitted, spec, settings)
        selection = run.selection = select_champion(
            fitted,
            run.evaluations,
            spec.protected,
            settings.fairness_max_calibration_gap,
            settings.fairness_max_auc_gap,
            settings.fairness_gate_min_group,
        )
        timer.progress(f"selected {selection.champion}: {selection.reason}")
        run.decision = _decide(
            settings,
            run.current,
            run.same_model,
            fitted[selection.champion],
            run.evaluations[selection.champion],
            run.split,
            spec,
        )
        timer.progress(run.decision.reason)


def register(run: PipelineRun, settings: Settings, timer: Timer) -> None:
    """Log every candidate to MLflow and register the champion (its alias moves at publish)."""
    with timer.step("register"):
        run.run_id, run.version = tracking.log_runs(
            settings,
            run.spec,
            run.feature_set,
            run.dataset,
            run.fp,
            run.fitted,
            run.evaluations,
            run.selection,
            run.decision.promote,
            register=not run.same_model,
        )


def publish(run: PipelineRun, settings: Settings, timer: Timer) -> None:
    """Score and explain every student, write the report, swap in the new warehouse and move
    the champion alias together."""
    spec, dataset, selection, decision = run.spec, run.dataset, run.selection, run.decision
    served_version = run.version if decision.promote else run.current.version
    with timer.step("explain + score"):
        scored = score_step(
            decision.served_model or run.fitted[selection.champion].model,
            dataset.frame,
            spec,
            settings,
        )
    champion_eval = decision.served_eval or run.evaluations[selection.champion]
    with timer.step("report"):
        report_path = _write_report(
            settings,
            run.run_id,
            run.split,
            run.evaluations,
            selection,
            decision,
            scored,
            spec,
            dataset,
            run.timings,
        )
    with timer.step("publish"):
        tables = warehouse_tables(
            dataset,
            scored,
            spec,
            settings,
            run.evaluations,
            champion_eval,
            {
                "model_name": settings.model_name,
                "model_version": served_version,
                "candidate": decision.served_candidate or selection.champion,
                "fingerprint": run.fp,
                "spec": spec.name,
                "feature_set": run.feature_set,
                "data_source": dataset.source,
                "pipeline_run_id": run.run_id,
                "risk_medium_threshold": settings.risk_medium_threshold,
                "risk_high_threshold": settings.risk_high_threshold,
            },
        )
        client = registry.configure(settings)
        move_alias = (
            (lambda: registry.set_champion(client, settings.model_name, run.version))
            if decision.promote and run.version
            else None
        )
        warehouse.publish(settings.warehouse_path, tables, before_swap=move_alias)
    status = "promoted" if decision.promote else ("reused" if run.same_model else "kept")
    run.result = PipelineResult(
        status,
        served_version,
        decision.served_candidate or selection.champion,
        f"{selection.reason}. {decision.reason[:1].upper()}{decision.reason[1:]}",
        run.fp,
        run.run_id,
        champion_eval.metrics,
        run.timings,
        report_path,
        settings.warehouse_path,
        len(dataset.frame),
        dataset.report.n_quarantined,
    )


Stage = Callable[[PipelineRun, Settings, Timer], None]
STAGES: dict[str, Stage] = {
    "ingest": ingest,
    "validate": validate,
    "train": train,
    "evaluate": evaluate_candidates,
    "register": register,
    "publish": publish,
}


def run_pipeline(
    settings: Settings,
    data: Path | None = None,
    generate: int | None = None,
    spec_path: Path | None = None,
    feature_set: str | None = None,
    progress: Progress = log.info,
    encoding: str | None = None,
) -> PipelineResult:
    run = start_run(settings, data, generate, spec_path, feature_set, encoding)
    timer = Timer(progress, run.timings)
    for stage in STAGES.values():
        stage(run, settings, timer)
        if run.result is not None:
            break
    return run.result


def save_run(run: PipelineRun, path: Path) -> Path:
    """Write the run to ``path`` atomically (a killed task never leaves half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as handle:
        pickle.dump(run, handle, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(partial, path)
    return path


def load_run(path: Path) -> PipelineRun:
    """A run saved by `save_run` (files SARA wrote in its own workspace, never user input)."""
    with Path(path).open("rb") as handle:
        run = pickle.load(handle)
    if not isinstance(run, PipelineRun):
        raise TypeError(f"{path} does not hold a pipeline run")
    return run


def begin_run(settings: Settings, folder: Path, **options) -> Path:
    """Start a run whose stages will run one at a time (`run_stage`); ``options`` are
    `start_run`'s. Returns the path of the saved run."""
    return save_run(start_run(settings, **options), folder / "0-start.pkl")


def run_stage(
    name: str, settings: Settings, previous: Path, progress: Progress = log.info
) -> tuple[Path, PipelineResult | None]:
    """Run one stage on the run saved at ``previous`` and save the outcome beside it, so a
    retried stage starts again from its own input. Returns the new file's path and the run's
    result once the run is over (after publish, or earlier when there is nothing to do)."""
    if name not in STAGES:
        raise ValueError(f"stage {name!r} is not one of {', '.join(STAGES)}")
    run = load_run(previous)
    STAGES[name](run, settings, Timer(progress, run.timings))
    path = Path(previous).with_name(f"{list(STAGES).index(name) + 1}-{name}.pkl")
    return save_run(run, path), run.result


@dataclass
class Decision:
    promote: bool
    reason: str
    served_model: object | None = None
    served_eval: Evaluation | None = None
    served_candidate: str | None = None


def _decide(
    settings: Settings,
    current,
    same_model: bool,
    best: FittedCandidate,
    best_eval: Evaluation,
    split: SplitData,
    spec: DatasetSpec,
) -> Decision:
    """Champion/challenger: the new model replaces the champion unless the champion, scored on
    the same held-out students, is better by more than the tolerance."""
    if current is None:
        return Decision(True, "no champion yet: the selected model becomes the champion")
    incumbent = registry.load_version(settings.model_name, current.version)
    candidate = current.tags.get("candidate")
    if same_model:
        return Decision(
            False,
            f"champion v{current.version} was trained on this data and these "
            "settings; republishing it",
            incumbent,
            best_eval,
            candidate,
        )
    if list(getattr(incumbent, "features", [])) != list(best.model.features):
        return Decision(
            True, f"champion v{current.version} uses other features; the new model takes over"
        )
    groups = split.test[spec.protected].astype(str) if spec.protected else None
    score = incumbent.predict_proba(split.test)[:, 1]
    incumbent_eval = evaluate(
        f"champion v{current.version}",
        split.y_test,
        score,
        groups,
        settings.risk_high_threshold,
        settings.min_group_size,
    )
    new, old = best_eval.metrics["pr_auc"], incumbent_eval.metrics["pr_auc"]
    if new >= old - settings.champion_tolerance:
        return Decision(
            True,
            f"challenger PR-AUC {new:.4f} vs champion v{current.version} "
            f"{old:.4f} on the same test set: promoted",
        )
    return Decision(
        False,
        f"challenger PR-AUC {new:.4f} is below champion v{current.version} "
        f"{old:.4f} by more than {settings.champion_tolerance}: champion kept",
        incumbent,
        incumbent_eval,
        candidate,
    )


def _write_report(
    settings, run_id, split, evaluations, selection, decision, scored, spec, dataset, timings
) -> Path:
    import mlflow

    folder = settings.reports_dir / f"pipeline-{run_id}"
    folder.mkdir(parents=True, exist_ok=True)
    named = {
        (f"{k} (champion)" if k == selection.champion else k): v for k, v in evaluations.items()
    }
    images = report.plot_curves(split.y_test, named, folder)
    champion_eval = evaluations[selection.champion]
    if champion_eval.fairness is not None and spec.protected:
        images.append(report.plot_fairness(champion_eval, spec.protected, folder))
    mean_abs = np.abs(scored.contribs.values).mean(axis=0)
    images.append(report.plot_importance(scored.contribs.features, mean_abs, folder))
    sections = [
        (
            "Data",
            f"{dataset.source}: {dataset.report.n_rows:,} rows read, "
            f"{dataset.report.n_valid:,} valid, {dataset.report.n_quarantined:,} "
            f"quarantined; outcome rate {dataset.y.mean():.1%}.",
        ),
        ("Candidates and baselines (held-out test set)", report.metrics_table(evaluations)),
        ("Selection", f"{selection.reason}.\n\n{decision.reason}."),
        (
            "Fairness of the selected model",
            report.gaps_table(champion_eval, spec.protected)
            if champion_eval.fairness is not None
            else "No protected attributes in the spec.",
        ),
        ("Timings (s)", "\n".join(f"- {k}: {v:.1f}" for k, v in timings.items())),
    ]
    path = report.write_report(folder, sections, images)
    with mlflow.start_run(run_id=run_id):
        mlflow.log_artifacts(str(folder), artifact_path="report")
    return path
