"""Run the whole pipeline: ingest → validate → split → train → calibrate → evaluate → select →
register → explain → publish, with per-step timings, an MLflow run per candidate, a report,
and champion/challenger promotion. Re-running on the same data and settings is a no-op."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from data.spec import DatasetSpec, load_spec
from pipeline import registry, report, tracking, warehouse
from pipeline.evaluate import Evaluation, evaluate, select_champion
from pipeline.features import model_features
from pipeline.steps import (
    SplitData,
    evaluate_step,
    fingerprint,
    ingest_step,
    resolve_source,
    score_step,
    split_step,
    train_step,
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
    def __init__(self, progress: Progress):
        self.progress, self.timings = progress, {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        self.progress(f"{name} …")
        started = time.perf_counter()
        yield
        self.timings[name] = time.perf_counter() - started
        self.progress(f"{name} done in {self.timings[name]:.1f} s")


def run_pipeline(
    settings: Settings,
    data: Path | None = None,
    generate: int | None = None,
    spec_path: Path | None = None,
    feature_set: str | None = None,
    progress: Progress = log.info,
) -> PipelineResult:
    spec = load_spec(spec_path or settings.spec_path)
    feature_set = feature_set or settings.feature_set
    model_features(spec, feature_set)  # refuse an unknown feature set before any work
    settings.ensure_workspace()
    timer = Timer(progress)
    with timer.step("ingest + validate"):
        source = resolve_source(settings, data, generate)
        dataset = ingest_step(source, spec, settings)
    progress(f"{dataset.report.n_valid:,} valid rows, {dataset.report.n_quarantined:,} quarantined")
    fp = fingerprint(dataset, spec, feature_set, settings)
    client = registry.configure(settings)
    current = registry.champion_info(client, settings.model_name)
    same_model = current is not None and current.tags.get("fingerprint") == fp
    meta = warehouse.read_meta(settings.warehouse_path)
    if same_model and meta and meta.get("fingerprint") == fp:
        return PipelineResult(
            "unchanged",
            current.version,
            current.tags.get("candidate"),
            "the champion and warehouse already come from this data and "
            "these settings; nothing to do",
            fp,
            timings=timer.timings,
            warehouse_path=settings.warehouse_path,
            rows=len(dataset.frame),
        )
    with timer.step("split"):
        split = split_step(dataset, settings)
    with timer.step("train + calibrate"):
        fitted = train_step(split, spec, feature_set, settings, progress)
    with timer.step("evaluate + fairness"):
        evaluations = evaluate_step(split, fitted, spec, settings)
        selection = select_champion(
            fitted,
            evaluations,
            spec.protected,
            settings.fairness_max_calibration_gap,
            settings.fairness_max_auc_gap,
            settings.fairness_gate_min_group,
        )
        progress(f"selected {selection.champion}: {selection.reason}")
        decision = _decide(
            settings,
            current,
            same_model,
            fitted[selection.champion],
            evaluations[selection.champion],
            split,
            spec,
        )
        progress(decision.reason)
    with timer.step("register"):
        run_id, version = tracking.log_runs(
            settings,
            spec,
            feature_set,
            dataset,
            fp,
            fitted,
            evaluations,
            selection,
            decision.promote,
            register=not same_model,
        )
    served_version = version if decision.promote else current.version
    with timer.step("explain + score"):
        scored = score_step(
            decision.served_model or fitted[selection.champion].model, dataset.frame, spec, settings
        )
    champion_eval = decision.served_eval or evaluations[selection.champion]
    with timer.step("report"):
        report_path = _write_report(
            settings,
            run_id,
            split,
            evaluations,
            selection,
            decision,
            scored,
            spec,
            dataset,
            timer.timings,
        )
    with timer.step("publish"):
        tables = warehouse_tables(
            dataset,
            scored,
            spec,
            settings,
            evaluations,
            champion_eval,
            {
                "model_name": settings.model_name,
                "model_version": served_version,
                "candidate": decision.served_candidate or selection.champion,
                "fingerprint": fp,
                "spec": spec.name,
                "feature_set": feature_set,
                "data_source": dataset.source,
                "pipeline_run_id": run_id,
                "risk_medium_threshold": settings.risk_medium_threshold,
                "risk_high_threshold": settings.risk_high_threshold,
            },
        )
        move_alias = (
            (lambda: registry.set_champion(client, settings.model_name, version))
            if decision.promote and version
            else None
        )
        warehouse.publish(settings.warehouse_path, tables, before_swap=move_alias)
    status = "promoted" if decision.promote else ("reused" if same_model else "kept")
    return PipelineResult(
        status,
        served_version,
        decision.served_candidate or selection.champion,
        f"{selection.reason}. {decision.reason[:1].upper()}{decision.reason[1:]}",
        fp,
        run_id,
        champion_eval.metrics,
        timer.timings,
        report_path,
        settings.warehouse_path,
        len(dataset.frame),
        dataset.report.n_quarantined,
    )


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
