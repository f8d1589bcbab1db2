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
from collections.abc import Callable
from pathlib import Path

import numpy as np

from data.spec import load_spec
from pipeline import model_cache, registry, tracking, warehouse
from pipeline.champion import decide, fairness_record, fallback_words
from pipeline.evaluate import select_champion
from pipeline.faults import require_free_space
from pipeline.features import model_features
from pipeline.levels import with_levels
from pipeline.report import write_run_report
from pipeline.run_state import (
    Evaluated,
    Ingested,
    PipelineResult,
    PipelineRun,
    Progress,
    Registered,
    RunRequest,
    Status,
    Timer,
    Trained,
    Validated,
    after,
)
from pipeline.scoring import score_step
from pipeline.steps import (
    evaluate_step,
    fingerprint,
    published_spec,
    read_step,
    resolve_source,
    split_step,
    train_step,
    validate_step,
    warehouse_tables,
    what_if_step,
)
from sara.settings import Settings

log = logging.getLogger(__name__)
# The workspace holds student records and scores: what a run writes (the warehouse, MLflow's
# store and artifacts, the cohort, reports, staged runs) is its owner's only. Set by the run
# itself, not only by the `sara` command, because the Airflow DAG calls these functions from
# processes of its own.
PRIVATE_UMASK = 0o077


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
    published_spec(spec, settings)  # and a catalogue that does not fit the spec
    os.umask(PRIVATE_UMASK)
    settings.ensure_workspace()
    return PipelineRun(RunRequest(spec, feature_set, data, generate, encoding))


def ingest(run: PipelineRun, settings: Settings, timer: Timer) -> None:
    request = run.request
    with timer.step("ingest"):
        source = resolve_source(settings, request.data, request.generate)
        raw = read_step(source, request.spec, request.encoding)
    run.ingested = Ingested(source, raw)
    timer.progress(f"{len(raw):,} rows read from {source}")


def validate(run: PipelineRun, settings: Settings, timer: Timer) -> None:
    """Validate (the data-quality gate raises ``DataQualityError``); finish the run here when
    the champion and warehouse already come from this data and these settings."""
    request, ingested = run.request, after("ingest", run.ingested)
    with timer.step("validate"):
        raw = after("ingest", ingested.raw)
        dataset = validate_step(raw, ingested.source, request.spec, settings)
        ingested.raw = None
    timer.progress(
        f"{dataset.report.n_valid:,} valid rows, {dataset.report.n_quarantined:,} quarantined"
    )
    fp = fingerprint(dataset, request.spec, request.feature_set, settings)
    client = registry.configure(settings)
    current = registry.champion_info(client, settings.model_name)
    same_model = current is not None and current.tags.get("fingerprint") == fp
    run.validated = Validated(dataset, fp, current, same_model)
    meta = warehouse.read_meta(settings.warehouse_path)
    # The warehouse already holds this data scored by the champion: whether that champion
    # was trained on it or kept against a challenger trained on it, a re-run changes nothing.
    if (
        current is not None
        and meta
        and meta.get("fingerprint") == fp
        and meta.get("model_version") == str(current.version)
    ):
        run.result = PipelineResult(
            "unchanged",
            current.version,
            current.tags.get("candidate"),
            "the champion and warehouse already come from this data and "
            "these settings; nothing to do",
            fp,
            timings=run.timings,
            warehouse_path=settings.warehouse_path,
            rows=len(dataset.frame),
        )


def train(run: PipelineRun, settings: Settings, timer: Timer) -> None:
    request, dataset = run.request, after("validate", run.validated).dataset
    meta = warehouse.read_meta(settings.warehouse_path) or {}
    require_free_space(
        settings.home,
        settings.warehouse_path,
        len(dataset.frame),
        int(meta["rows"]) if str(meta.get("rows", "")).isdigit() else None,
    )
    with timer.step("split"):
        split = split_step(dataset, settings)
    with timer.step("train + calibrate"):
        fitted = train_step(split, request.spec, request.feature_set, settings, timer.progress)
    run.trained = Trained(split, fitted)


def evaluate_candidates(run: PipelineRun, settings: Settings, timer: Timer) -> None:
    """Evaluate every candidate, select the champion and decide whether it is promoted."""
    spec, validated = run.request.spec, after("validate", run.validated)
    trained = after("train", run.trained)
    split, fitted = trained.split, trained.fitted
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
        for name, result in selection.gates.items():
            timer.progress(f"fairness gate, {name}: {result.summary()}")
        timer.progress(f"selected {selection.champion}: {selection.reason}")
        decision = decide(
            settings,
            validated.current,
            validated.same_model,
            fitted[selection.champion],
            evaluations[selection.champion],
            split,
            spec,
            selection.gate,
        )
        # Recorded on the selection too, so the model card of the registered version says it.
        selection.fallback = fallback_words(decision, settings)
        run.evaluated = Evaluated(evaluations, selection, decision)
        timer.progress(decision.reason)


def register(run: PipelineRun, settings: Settings, timer: Timer) -> None:
    """Log every candidate to MLflow and register the champion (its alias moves at publish)."""
    validated, evaluated = after("validate", run.validated), after("evaluate", run.evaluated)
    with timer.step("register"):
        run_id, version = tracking.log_runs(
            settings,
            run.request.spec,
            run.request.feature_set,
            validated.dataset,
            validated.fingerprint,
            after("train", run.trained).fitted,
            evaluated.evaluations,
            evaluated.selection,
            evaluated.decision.promote,
            register=not validated.same_model,
        )
    run.registered = Registered(run_id, version)


def publish(run: PipelineRun, settings: Settings, timer: Timer) -> None:
    """Score and explain every student, write the report, swap in the new warehouse and move
    the champion alias together."""
    spec, validated = run.request.spec, after("validate", run.validated)
    trained, evaluated = after("train", run.trained), after("evaluate", run.evaluated)
    registered = after("register", run.registered)
    dataset, selection, decision = validated.dataset, evaluated.selection, evaluated.decision
    # Not promoted: the champion there was before this run is kept or republished.
    current = validated.current
    served_version = registered.version if decision.promote else current and current.version
    served = decision.served_model or trained.fitted[selection.champion].model
    with timer.step("explain + score"):
        scored = score_step(
            served,
            dataset.frame,
            spec,
            settings,
        )
    with timer.step("intervention what-ifs"):
        terms = what_if_step(
            served,
            dataset,
            spec,
            settings,
            timer.progress,
        )
    champion_eval = decision.served_eval or evaluated.evaluations[selection.champion]
    with timer.step("report"):
        report_path = write_run_report(
            settings,
            registered.run_id,
            trained.split,
            evaluated.evaluations,
            selection,
            decision,
            scored,
            spec,
            dataset,
            run.timings,
        )
    with timer.step("publish"):
        # The copy of the served model one-shot commands load without the registry.
        copy_digest = served_version and model_cache.write_published(
            settings, served_version, served
        )
        tables = warehouse_tables(
            dataset,
            scored,
            spec,
            settings,
            evaluated.evaluations,
            champion_eval,
            {
                "model_name": settings.model_name,
                "model_version": served_version,
                "candidate": decision.served_candidate or selection.champion,
                "fingerprint": validated.fingerprint,
                "spec": spec.name,
                "feature_set": run.request.feature_set,
                "data_source": dataset.source,
                "pipeline_run_id": registered.run_id,
                "risk_medium_threshold": settings.risk_medium_threshold,
                "risk_high_threshold": settings.risk_high_threshold,
                "outcome_base_rate": round(float(np.mean(dataset.y)), 5),
                "fairness_gate": fairness_record(decision, settings),
                **({model_cache.META_KEY: copy_digest} if copy_digest else {}),
            },
            terms,
        )
        client = registry.configure(settings)
        new_version = registered.version
        move_alias = (
            (lambda: registry.set_champion(client, settings.model_name, new_version))
            if decision.promote and new_version
            else None
        )
        warehouse.publish(
            settings.warehouse_path, tables, before_swap=move_alias, id_column=spec.id_column
        )
    status: Status = (
        "promoted" if decision.promote else ("reused" if validated.same_model else "kept")
    )
    run.result = PipelineResult(
        status,
        served_version,
        decision.served_candidate or selection.champion,
        f"{selection.describe(with_fallback=False)}. "
        f"{decision.reason[:1].upper()}{decision.reason[1:]}",
        validated.fingerprint,
        registered.run_id,
        champion_eval.metrics,
        run.timings,
        report_path,
        settings.warehouse_path,
        len(dataset.frame),
        dataset.report.n_quarantined,
        decision.served_gate.summary() if decision.served_gate else "",
        decision.fairness_fallback,
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


def levelled(run: PipelineRun, settings: Settings) -> Settings:
    """The settings a stage runs with: once the data is validated, risk thresholds the settings
    leave empty are set from the cohort's base rate (pipeline/levels.py)."""
    if run.validated is None:
        return settings
    return with_levels(settings, float(np.mean(run.validated.dataset.y)))


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
        stage(run, levelled(run, settings), timer)
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
    os.umask(PRIVATE_UMASK)
    run = load_run(previous)
    STAGES[name](run, levelled(run, settings), Timer(progress, run.timings))
    path = Path(previous).with_name(f"{list(STAGES).index(name) + 1}-{name}.pkl")
    return save_run(run, path), run.result
