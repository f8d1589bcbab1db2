"""Train the candidate models: a small, bounded hyperparameter search under cross-validation,
then calibration (sigmoid or isotonic, chosen by CV on out-of-fold scores), then a refit on
the whole training set. Every candidate comes out as one ``RiskModel``.

Thread counts are set deliberately (``train_threads``): every fit runs with that many threads
(XGBoost's ``n_jobs``; OpenMP and BLAS pools through threadpoolctl) and the CV folds of a grid
point are fitted side by side, as many at once as the CPUs hold. Left to themselves, OpenMP
pools take every core for each fit; on a machine that is busy with other work their threads
wait on each other and a fit can run ten times slower."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits
from xgboost import XGBClassifier

from data.spec import DatasetSpec
from pipeline.features import (
    as_model_input,
    build_preprocessor,
    encoded_to_feature,
    monotone_constraints,
)
from pipeline.model import Calibrator, RiskModel
from sara.settings import get_settings

log = logging.getLogger(__name__)
Folds = list[tuple[np.ndarray, np.ndarray]]
# A registered XGBoost model predicts with the threads it was built with; the served champion
# keeps the count it always had, whatever the training used.
XGBOOST_SERVING_THREADS = 2


def available_cpus() -> int:
    """The number of CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class ThreadPlan:
    """How training uses the CPUs: threads inside one model fit, and how many CV fold fits
    run side by side (threads × fold_workers stays within the CPUs)."""

    threads: int
    fold_workers: int


def thread_plan(threads: int | None, n_folds: int, cpus: int | None = None) -> ThreadPlan:
    """The plan for ``threads`` per fit (None: the ``train_threads`` setting; 0: one per CPU)
    over ``n_folds`` folds on ``cpus`` CPUs (default: those available)."""
    if threads is None:
        threads = get_settings().train_threads
    if threads < 0:
        raise ValueError(f"threads per fit must be 0 (one per CPU) or more, not {threads}")
    cpus = cpus or available_cpus()
    per_fit = threads or cpus
    return ThreadPlan(per_fit, max(1, min(n_folds, cpus // per_fit)))


@contextmanager
def fit_threads(threads: int, user_api: str | None = None) -> Iterator[None]:
    """Limit the OpenMP and BLAS pools of the calling thread to ``threads`` while inside."""
    with threadpool_limits(limits=threads, user_api=user_api):
        yield


@dataclass(frozen=True)
class Candidate:
    """A model family with its bounded search grid."""

    name: str
    family: str
    scale: bool
    grid: tuple[dict[str, Any], ...]

    def estimator(self, params: dict[str, Any], monotone: list[int], seed: int, threads: int = 1):
        """The unfitted estimator for ``params``; XGBoost gets ``threads`` explicitly (its
        pool ignores OpenMP limits), the others take theirs from the calling thread."""
        if self.family == "linear":
            return LogisticRegression(max_iter=2000, **params)
        if self.family == "xgboost":
            return XGBClassifier(
                tree_method="hist",
                n_jobs=threads,
                subsample=0.8,
                colsample_bytree=0.8,
                min_child_weight=5,
                monotone_constraints=tuple(monotone),
                random_state=seed,
                eval_metric="logloss",
                **params,
            )
        if self.family == "hist_gb":
            return HistGradientBoostingClassifier(
                early_stopping=False, monotonic_cst=monotone, random_state=seed, **params
            )
        raise ValueError(f"unknown model family {self.family!r}")


CANDIDATES: dict[str, Candidate] = {
    c.name: c
    for c in (
        Candidate("logreg", "linear", True, ({"C": 0.01}, {"C": 0.1}, {"C": 1.0})),
        Candidate(
            "xgboost",
            "xgboost",
            False,
            (
                {"max_depth": 3, "n_estimators": 300, "learning_rate": 0.06},
                {"max_depth": 4, "n_estimators": 200, "learning_rate": 0.06},
                {"max_depth": 2, "n_estimators": 400, "learning_rate": 0.1},
            ),
        ),
        Candidate(
            "hist_gb",
            "hist_gb",
            False,
            (
                {"max_depth": 3, "max_iter": 250, "learning_rate": 0.06},
                {"max_leaf_nodes": 15, "max_iter": 200, "learning_rate": 0.06},
            ),
        ),
    )
}


@dataclass
class FittedCandidate:
    name: str
    family: str
    params: dict[str, Any]
    model: RiskModel
    cv: dict[str, float]
    calibration_method: str
    calibration_cv_brier: dict[str, float]
    search: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def make_folds(y: np.ndarray, n_folds: int, seed: int) -> Folds:
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y))


def _raw(pipeline: Pipeline, family: str, frame: pd.DataFrame) -> np.ndarray:
    if family == "xgboost":
        return pipeline.predict(frame, output_margin=True)
    return pipeline.decision_function(frame)


def _choose_calibration(raw: np.ndarray, y: np.ndarray, seed: int) -> tuple[str, dict]:
    """Pick the calibration method with the lower cross-validated Brier score."""
    halves = make_folds(y, 2, seed)
    scores = {}
    for method in ("sigmoid", "isotonic"):
        briers = []
        for fit_idx, eval_idx in halves:
            calibrator = Calibrator(method).fit(raw[fit_idx], y[fit_idx])
            briers.append(brier_score_loss(y[eval_idx], calibrator.transform(raw[eval_idx])))
        scores[method] = float(np.mean(briers))
    return min(scores, key=scores.get), scores


def fit_candidate(
    candidate: Candidate,
    train: pd.DataFrame,
    y: np.ndarray,
    folds: Folds,
    spec: DatasetSpec,
    features: list[str],
    seed: int,
    on_progress: Callable[[str], None] | None = None,
    threads: int | None = None,
) -> FittedCandidate:
    """Search the candidate's grid by CV PR-AUC, calibrate on out-of-fold scores, refit.
    ``threads`` per fit: None takes the ``train_threads`` setting, 0 one per CPU."""
    started = time.perf_counter()
    plan = thread_plan(threads, len(folds))
    log.info(
        "%s: %d thread(s) per fit, %d CV fold(s) at a time",
        candidate.name,
        plan.threads,
        plan.fold_workers,
    )
    X = as_model_input(train, features)
    monotone = monotone_constraints(spec, features)

    def make(params: dict[str, Any]) -> Pipeline:
        return Pipeline(
            [
                ("preprocess", build_preprocessor(spec, features, candidate.scale)),
                ("model", candidate.estimator(params, monotone, seed, plan.threads)),
            ]
        )

    def fit_fold(params: dict[str, Any], fold: tuple[np.ndarray, np.ndarray]):
        fit_idx, eval_idx = fold
        # OpenMP limits belong to the thread that sets them, so each worker sets its own.
        with fit_threads(plan.threads, user_api="openmp"):
            fold_model = make(params).fit(X.iloc[fit_idx], y[fit_idx])
            return eval_idx, _raw(fold_model, candidate.family, X.iloc[eval_idx])

    search, best = [], None
    # BLAS limits are process-wide: set once here, never from the fold workers.
    with (
        fit_threads(plan.threads),
        ThreadPoolExecutor(plan.fold_workers, thread_name_prefix=f"sara-{candidate.name}") as pool,
    ):
        for params in candidate.grid:
            oof = np.empty(len(y))
            for eval_idx, raw in pool.map(lambda fold, p=params: fit_fold(p, fold), folds):
                oof[eval_idx] = raw
            scores = {
                "pr_auc": float(average_precision_score(y, oof)),
                "roc_auc": float(roc_auc_score(y, oof)),
            }
            search.append({"params": params, **scores})
            if on_progress:
                on_progress(f"{candidate.name} {params}: CV PR-AUC {scores['pr_auc']:.4f}")
            if best is None or scores["pr_auc"] > best[1]["pr_auc"]:
                best = (params, scores, oof)
        params, cv_scores, oof = best
        method, calibration_scores = _choose_calibration(oof, y, seed)
        calibrator = Calibrator(method).fit(oof, y)
        pipeline = make(params).fit(X, y)
        encoded = pipeline[:-1].transform(X)
    if candidate.family == "xgboost":
        pipeline[-1].set_params(n_jobs=XGBOOST_SERVING_THREADS)
    model = RiskModel(
        pipeline=pipeline,
        calibrator=calibrator,
        features=list(features),
        encoded_features=encoded_to_feature(spec, features),
        background=np.asarray(encoded, dtype=float).mean(axis=0),
        family=candidate.family,
        reference={
            f: float(X[f].mean()) for f in features if spec.column(f).dtype in ("int", "float")
        },
    )
    cv_scores["brier_calibrated"] = calibration_scores[method]
    return FittedCandidate(
        name=candidate.name,
        family=candidate.family,
        params=params,
        model=model,
        cv=cv_scores,
        calibration_method=method,
        calibration_cv_brier=calibration_scores,
        search=search,
        seconds=time.perf_counter() - started,
    )
