"""Training sets its thread counts deliberately: every fit runs under the ``train_threads``
limit (OpenMP and BLAS pools, XGBoost's n_jobs), CV folds run side by side only as far as the
CPUs hold, and the registered XGBoost model keeps its serving thread count."""

from __future__ import annotations

import json
import threading

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_info
from xgboost import XGBClassifier

import pipeline.train as train
from data.spec import load_spec
from data.synthetic.cohort import generate_frame
from pipeline.features import model_features
from pipeline.train import CANDIDATES, Candidate, ThreadPlan, fit_candidate, make_folds, thread_plan
from sara.settings import Settings, get_settings

SPEC = load_spec()
FEATURES = model_features(SPEC, "early")
SEEN: list[dict] = []


@pytest.fixture(scope="module")
def cohort() -> tuple[pd.DataFrame, np.ndarray]:
    frame, _ = generate_frame(600, seed=3)
    return frame, SPEC.outcome.label(frame)


def pools() -> dict[str, set[int]]:
    """The thread count of every OpenMP and BLAS pool the calling thread would use now."""
    found: dict[str, set[int]] = {}
    for pool in threadpool_info():
        found.setdefault(pool["user_api"], set()).add(pool["num_threads"])
    return found


class Probe(LogisticRegression):
    """Records, inside each fit, the thread it runs on and the pools' thread counts."""

    def fit(self, X, y, sample_weight=None):
        SEEN.append({"thread": threading.current_thread().name, "pools": pools()})
        return super().fit(X, y, sample_weight)


class ProbeCandidate(Candidate):
    def estimator(self, params, monotone, seed, threads=1):
        return Probe(max_iter=500, **params)


PROBE = ProbeCandidate("probe", "linear", True, ({"C": 1.0},))


def fit_probe(cohort, threads, monkeypatch, cpus: int) -> list[dict]:
    monkeypatch.setattr(train, "available_cpus", lambda: cpus)
    SEEN.clear()
    frame, y = cohort
    fit_candidate(PROBE, frame, y, make_folds(y, 3, 0), SPEC, FEATURES, seed=0, threads=threads)
    return list(SEEN)


@pytest.mark.parametrize(
    ("threads", "cpus", "plan"),
    [
        (1, 2, ThreadPlan(1, 2)),
        (1, 8, ThreadPlan(1, 3)),  # never more workers than folds
        (2, 2, ThreadPlan(2, 1)),
        (0, 4, ThreadPlan(4, 1)),  # 0: one thread per CPU, one fit at a time
        (8, 2, ThreadPlan(8, 1)),
    ],
)
def test_thread_plan_keeps_threads_times_folds_within_the_cpus(threads, cpus, plan):
    assert thread_plan(threads, n_folds=3, cpus=cpus) == plan


def test_thread_plan_reads_the_setting_and_refuses_negative_counts(monkeypatch):
    assert Settings().train_threads == 1
    monkeypatch.setenv("SARA_TRAIN_THREADS", "3")
    get_settings.cache_clear()
    try:
        assert thread_plan(None, n_folds=3, cpus=6) == ThreadPlan(3, 2)
    finally:
        get_settings.cache_clear()
    with pytest.raises(ValueError, match="threads per fit"):
        thread_plan(-1, n_folds=3, cpus=2)


def test_every_fit_runs_single_threaded_with_folds_side_by_side(cohort, monkeypatch):
    before = pools()
    seen = fit_probe(cohort, 1, monkeypatch, cpus=4)
    assert len(seen) == 3 + 1  # three folds, then the refit on all the training rows
    for fit in seen:
        assert fit["pools"]["openmp"] == {1}, fit
        assert fit["pools"]["blas"] == {1}, fit
    fold_threads = {fit["thread"] for fit in seen[:3]}
    assert all(name.startswith("sara-probe") for name in fold_threads)
    assert pools() == before  # the limits end with the fit


def test_the_setting_raises_the_threads_of_each_fit(cohort, monkeypatch):
    seen = fit_probe(cohort, 2, monkeypatch, cpus=2)
    assert all(fit["pools"]["openmp"] == {2} for fit in seen)


def test_xgboost_trains_with_the_setting_and_serves_with_its_own_count(cohort, monkeypatch):
    built: list[int] = []

    class Recording(XGBClassifier):
        def fit(self, X, y, **kwargs):
            built.append(self.n_jobs)
            return super().fit(X, y, **kwargs)

    monkeypatch.setattr(train, "XGBClassifier", Recording)
    monkeypatch.setattr(train, "available_cpus", lambda: 2)
    small = Candidate(
        "xgboost",
        "xgboost",
        False,
        ({"max_depth": 2, "n_estimators": 10, "learning_rate": 0.1},),
    )
    frame, y = cohort
    fitted = fit_candidate(small, frame, y, make_folds(y, 3, 0), SPEC, FEATURES, seed=0, threads=1)
    assert built == [1, 1, 1, 1]
    booster = fitted.model.pipeline[-1].get_booster()
    nthread = json.loads(booster.save_config())["learner"]["generic_param"]["nthread"]
    assert int(nthread) == train.XGBOOST_SERVING_THREADS


def test_the_xgboost_candidate_takes_its_thread_count_explicitly():
    estimator = CANDIDATES["xgboost"].estimator({"max_depth": 2}, [], seed=0, threads=1)
    assert estimator.get_params()["n_jobs"] == 1


def test_results_do_not_depend_on_the_thread_plan(cohort, monkeypatch):
    frame, y = cohort
    folds = make_folds(y, 3, 0)
    monkeypatch.setattr(train, "available_cpus", lambda: 1)
    alone = fit_candidate(CANDIDATES["hist_gb"], frame, y, folds, SPEC, FEATURES, 0, threads=1)
    monkeypatch.setattr(train, "available_cpus", lambda: 3)
    side_by_side = fit_candidate(
        CANDIDATES["hist_gb"], frame, y, folds, SPEC, FEATURES, 0, threads=1
    )
    assert alone.cv == side_by_side.cv
    assert alone.search == side_by_side.search
