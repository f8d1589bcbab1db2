"""The pipeline's steps as plain typed functions. The CLI (`sara pipeline run`), the Airflow
DAG and the tests call these same functions."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from data.catalogue import catalogue_text, parse_catalogue
from data.ingest import check, source_stem
from data.loaders import read_columns, read_table
from data.spec import DatasetSpec, Role
from data.spec_store import spec_digest, spec_yaml
from data.synthetic.cohort import write_cohort
from data.truth import truth_for
from data.validate import SchemaMismatchError, ValidationReport, check_columns
from pipeline import warehouse, what_if
from pipeline.evaluate import Evaluation, evaluate, naive_baseline
from pipeline.fairness import group_labels
from pipeline.features import model_features
from pipeline.model import RiskModel
from pipeline.scoring import Scored, score_step  # noqa: F401 (score_step: kept importable here)
from pipeline.train import CANDIDATES, FittedCandidate, fit_candidate, make_folds
from pipeline.warehouse import meta_table
from pipeline.what_if import META_KEY
from sara.errors import UserError
from sara.settings import Settings

log = logging.getLogger(__name__)
PIPELINE_VERSION = "1"


class DataQualityError(UserError, RuntimeError):
    """Validation quarantined more rows than the settings allow; nothing was trained."""


@dataclass
class Dataset:
    source: str
    frame: pd.DataFrame
    y: np.ndarray
    report: ValidationReport
    truth: pd.DataFrame | None


@dataclass
class SplitData:
    train: pd.DataFrame
    test: pd.DataFrame
    y_train: np.ndarray
    y_test: np.ndarray
    truth_test: np.ndarray | None


def resolve_source(settings: Settings, data: Path | None, generate: int | None) -> Path:
    """The input file: given, freshly generated, or the workspace cohort (generated if absent)."""
    if data is not None:
        return data
    target = settings.default_cohort_path
    if generate is not None or not target.exists():
        rows = generate or settings.generate_rows
        write_cohort(target, rows, settings.generate_seed, settings.generate_profile)
    return target


def read_step(source: Path, spec: DatasetSpec, encoding: str | None = None) -> pd.DataFrame:
    """The source as read, before validation. A file whose header cannot match the spec is
    refused before its rows are read (``SchemaMismatchError``)."""
    columns = read_columns(source, encoding=encoding)
    if columns is not None:
        check_columns(columns, spec, str(source))
    return read_table(source, encoding=encoding, id_column=list(spec.id_parts) or None)


def validate_step(
    raw: pd.DataFrame, source: Path, spec: DatasetSpec, settings: Settings
) -> Dataset:
    """Validate through the data contract, quarantine failing rows, and stop (the data-quality
    gate) when more than ``max_quarantine_share`` of the rows fail."""
    try:
        report = check(raw, spec, source_stem(source), settings.quarantine_dir)
    except SchemaMismatchError as exc:
        raise SchemaMismatchError(spec, exc.missing, exc.unexpected, str(source)) from None
    if report.n_rows == 0:
        raise DataQualityError(f"{source} has a header but no rows; nothing to train on")
    if report.share_quarantined > settings.max_quarantine_share:
        advice = f" {report.repeated_ids_advice}." if report.repeated_ids_advice else ""
        raise DataQualityError(
            f"{source}: {report.n_quarantined:,} of {report.n_rows:,} rows "
            f"({report.share_quarantined:.1%}) failed validation, above the limit of "
            f"{settings.max_quarantine_share:.0%}.{advice} Most broken rules: "
            f"{_top_rules(report)}; "
            f"every issue is in {report.files.get('issues')}"
        )
    if report.n_valid == 0:
        raise DataQualityError(f"{source}: no valid rows to train on")
    frame = report.valid
    y = spec.outcome.label(frame)
    if y.min() == y.max():
        raise DataQualityError(f"every student has {spec.outcome.name}={y[0]}; nothing to learn")
    truth = truth_for(Path(source), frame, spec.id_column)
    return Dataset(str(source), frame, y, report, truth)


def _top_rules(report: ValidationReport, limit: int = 3) -> str:
    """The most frequent broken rules, as ``column: rule (count, e.g. 'value')``."""
    top = report.issues_by_rule().head(limit)
    return "; ".join(
        f"{r['column']}: {r['rule']} ({r['count']:,} rows, e.g. {str(r['example_value'])[:40]!r})"
        for r in top.to_dict("records")
    )


def fingerprint(dataset: Dataset, spec: DatasetSpec, feature_set: str, settings: Settings) -> str:
    """Same data, spec, catalogue, features and training settings → same fingerprint (re-runs
    are no-ops)."""
    digest = hashlib.sha256()
    catalogue = catalogue_text(spec, settings.interventions_path)
    digest.update(pd.util.hash_pandas_object(dataset.frame, index=False).to_numpy().tobytes())
    config = {
        "spec": spec.model_dump(mode="json"),
        "catalogue": catalogue[0] if catalogue else None,
        "feature_set": feature_set,
        "seed": settings.seed,
        "test_size": settings.test_size,
        "cv_folds": settings.cv_folds,
        "fairness": [
            settings.fairness_max_calibration_gap,
            settings.fairness_max_auc_gap,
            settings.fairness_gate_min_group,
            settings.fairness_fallback,
        ],
        "candidates": [CANDIDATES[c].grid for c in settings.candidates],
        "pipeline": PIPELINE_VERSION,
    }
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def split_step(dataset: Dataset, settings: Settings) -> SplitData:
    index = np.arange(len(dataset.frame))
    train_idx, test_idx = train_test_split(
        index, test_size=settings.test_size, stratify=dataset.y, random_state=settings.seed
    )
    truth = dataset.truth["true_risk"].to_numpy()[test_idx] if dataset.truth is not None else None
    return SplitData(
        dataset.frame.iloc[train_idx].reset_index(drop=True),
        dataset.frame.iloc[test_idx].reset_index(drop=True),
        dataset.y[train_idx],
        dataset.y[test_idx],
        truth,
    )


def train_step(
    split: SplitData, spec: DatasetSpec, feature_set: str, settings: Settings, on_progress=None
) -> dict[str, FittedCandidate]:
    features = model_features(spec, feature_set)
    folds = make_folds(split.y_train, settings.cv_folds, settings.seed)
    return {
        name: fit_candidate(
            CANDIDATES[name],
            split.train,
            split.y_train,
            folds,
            spec,
            features,
            settings.seed,
            on_progress,
            threads=settings.train_threads,
        )
        for name in settings.candidates
    }


def evaluate_step(
    split: SplitData, fitted: dict[str, FittedCandidate], spec: DatasetSpec, settings: Settings
) -> dict[str, Evaluation]:
    """Every candidate, the naive baseline and (on generated data) the oracle, on the test set."""
    groups = split.test[spec.protected].astype(str) if spec.protected else None
    args = (groups, settings.risk_high_threshold, settings.min_group_size)
    evaluations = {
        name: evaluate(name, split.y_test, candidate.model.predict_proba(split.test)[:, 1], *args)
        for name, candidate in fitted.items()
    }
    rule_feature = next(
        (c.name for c in spec.columns if c.monotone and c.role == Role.ACTIONABLE), None
    )
    if rule_feature:
        score = naive_baseline(split.train, split.y_train, split.test, rule_feature)
        # Fairness of the naive rule is not needed for selection; it would only cost time.
        evaluations[f"baseline ({rule_feature} only)"] = evaluate(
            "baseline", split.y_test, score, None, *args[1:]
        )
    if split.truth_test is not None:
        evaluations["oracle (true risk)"] = evaluate(
            "oracle", split.y_test, split.truth_test, *args
        )
    return evaluations


def warehouse_tables(
    dataset: Dataset,
    scored: Scored,
    spec: DatasetSpec,
    settings: Settings,
    evaluations: dict[str, Evaluation],
    champion_eval: Evaluation,
    meta: dict[str, object],
    what_if: tuple[pd.DataFrame, dict] | None = None,
) -> dict[str, pd.DataFrame]:
    """The warehouse's tables; ``what_if``: the interventions' per-student terms and their
    description (pipeline/what_if.py), when the dataset has a catalogue."""
    ids = dataset.frame[spec.id_column].to_numpy()
    n, features = len(ids), scored.contribs.features
    students = dataset.frame.copy()
    students[spec.outcome.name] = dataset.y
    scores = pd.DataFrame(
        {
            "student_id": ids,
            "risk_score": scored.risk,
            "risk_level": scored.levels,
            "raw_score": scored.contribs.raw_score,
            "base_value": scored.contribs.base_value,
            "model_version": str(meta["model_version"]),
        }
    )
    contributions_long = pd.DataFrame(
        {
            "student_id": np.repeat(ids, len(features)),
            "feature": np.tile(features, n),
            "value": dataset.frame[features].astype(str).to_numpy().ravel(),
            "contribution": scored.contribs.values.ravel(),
        }
    )
    factor_rows = [
        (ids[i], rank + 1, f["feature"], f["phrase"], f["contribution"])
        for i, row in enumerate(scored.factors)
        for rank, f in enumerate(row)
    ]
    factors = pd.DataFrame(
        factor_rows, columns=["student_id", "rank", "feature", "phrase", "contribution"]
    )
    metrics = pd.DataFrame(
        [
            {"model": name, "metric": metric, "value": value}
            for name, ev in evaluations.items()
            for metric, value in ev.metrics.items()
        ]
    )
    extra = {} if what_if is None else {warehouse.WHAT_IF: what_if[0]}
    described = {} if what_if is None else {META_KEY: json.dumps(what_if[1])}
    return {
        **extra,
        "students": students,
        "scores": scores,
        "contributions": contributions_long,
        "risk_factors": factors,
        "group_aggregates": group_aggregates(students, scores, spec, settings),
        "model_metrics": metrics,
        "calibration": champion_eval.calibration,
        "fairness_groups": champion_eval.fairness.by_group
        if champion_eval.fairness
        else pd.DataFrame({"attribute": pd.Series(dtype=str)}),
        "fairness_gaps": champion_eval.fairness.gaps
        if champion_eval.fairness
        else pd.DataFrame({"attribute": pd.Series(dtype=str)}),
        "meta": meta_table(
            {
                **meta,
                **described,
                **published_spec(spec, settings),
                "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "rows": n,
            }
        ),
    }


def what_if_step(
    model: RiskModel,
    dataset: Dataset,
    spec: DatasetSpec,
    settings: Settings,
    progress: Callable[[str], None] = lambda _: None,
) -> tuple[pd.DataFrame, dict] | None:
    """Every student's terms for every intervention in the catalogue (pipeline/what_if.py);
    None when the dataset has no catalogue."""
    found = catalogue_text(spec, settings.interventions_path)
    if found is None:
        return None
    ids = dataset.frame[spec.id_column].to_numpy()
    frame = dataset.frame.assign(**{spec.outcome.name: dataset.y})
    return what_if.build_table(
        model, frame, spec, parse_catalogue(spec, *found), ids, dataset.source, progress
    )


def published_spec(spec: DatasetSpec, settings: Settings) -> dict[str, str]:
    """The spec and its intervention catalogue as the warehouse keeps them, so serving needs no
    setting repeated. A catalogue that does not fit the spec is refused here, before any work
    is published (``CatalogueError``)."""
    text = spec_yaml(spec)
    found = catalogue_text(spec, settings.interventions_path)
    if found is not None:
        parse_catalogue(spec, *found)
    return {
        "spec_yaml": text,
        "spec_hash": spec_digest(spec),
        "catalogue_yaml": found[0] if found else "",
        "catalogue_source": found[1] if found else "",
    }


def group_aggregates(
    students: pd.DataFrame,
    scores: pd.DataFrame,
    spec: DatasetSpec,
    settings: Settings,
    max_levels: int = 12,
) -> pd.DataFrame:
    """Per group of every protected, context or actionable column with few levels: size, mean
    risk, share High, outcome rate; students with no value are their own "(missing)" group.
    Small groups are suppressed (NaN, never 0)."""
    outcome = spec.outcome.name
    rows = []
    for column in spec.columns:
        if column.role not in (Role.PROTECTED, Role.CONTEXT, Role.ACTIONABLE):
            continue
        if column.dtype == "float" or students[column.name].nunique() > max_levels:
            continue
        frame = pd.DataFrame(
            {
                "group": group_labels(students[column.name]),
                "risk": scores["risk_score"].to_numpy(),
                "high": (scores["risk_level"] == "High").to_numpy(),
                "outcome": students[outcome].to_numpy(),
            }
        )
        summary = (
            frame.groupby("group", sort=True)
            .agg(
                n=("risk", "size"),
                mean_risk=("risk", "mean"),
                share_high=("high", "mean"),
                outcome_rate=("outcome", "mean"),
            )
            .reset_index()
        )
        summary.insert(0, "attribute", column.name)
        summary["suppressed"] = summary["n"] < settings.min_group_size
        summary.loc[summary["suppressed"], ["mean_risk", "share_high", "outcome_rate"]] = np.nan
        rows.append(summary)
    return pd.concat(rows, ignore_index=True)
