"""Threads, in training and in serving. Training sets its thread counts deliberately: every fit
runs under the ``train_threads`` limit (OpenMP and BLAS pools, XGBoost's n_jobs), CV folds run
side by side only as far as the CPUs hold, and the registered XGBoost model keeps its serving
thread count. Serving reads one DuckDB database per warehouse file, a cursor per thread that
goes with its thread; a republished warehouse loads in a thread of its own while the context in
service answers; and workers saving the same model cache at once all succeed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_info
from xgboost import XGBClassifier

import pipeline.train as train
from data.spec import load_spec
from data.synthetic.cohort import generate_frame
from pipeline import warehouse
from pipeline.features import model_features
from pipeline.model_cache import SAVING_INFIX, save_cache
from pipeline.train import CANDIDATES, Candidate, ThreadPlan, fit_candidate, make_folds, thread_plan
from sara.settings import Settings, get_settings
from tests.unit.tiny_warehouse import ROWS
from tools.context import ToolContext
from tools.errors import NotReady

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


# --- serving: one database per warehouse file, a cursor per thread ----------------------------


@pytest.fixture
def served(tiny_ctx):
    """A context of its own over the tiny warehouse, holding the file open as a load does."""
    path = tiny_ctx.settings.warehouse_path
    database = warehouse.open_read_only(path)
    ctx = ToolContext(tiny_ctx.settings, tiny_ctx.spec, tiny_ctx.model, tiny_ctx.model_version,
                      tiny_ctx.meta, "memory", tiny_ctx.catalogue, database)  # fmt: skip
    yield ctx
    ctx.close()


def handles(path: Path) -> int:
    """How many times this process has ``path`` open."""
    return sum(1 for f in psutil.Process().open_files() if f.path == str(path))


def test_threads_read_one_database_each_through_a_cursor_of_its_own(served):
    path = served.settings.warehouse_path
    before = handles(path)
    # A table only the context's own database has: every thread's cursor must see it.
    served.database.execute("CREATE TABLE memory.main.marker AS SELECT 42 AS answer")
    start = threading.Barrier(8)

    def read(_: int) -> tuple[int, int, int]:
        start.wait()
        cur = served.connection()
        assert served.connection() is cur  # one per thread, kept
        rows = cur.execute("SELECT count(*) FROM scores").fetchone()[0]
        marker = cur.execute("SELECT answer FROM memory.main.marker").fetchone()[0]
        return id(cur), rows, marker

    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(read, range(8)))
    assert len({cursor for cursor, _, _ in found}) == 8
    assert {(rows, marker) for _, rows, marker in found} == {(ROWS, 42)}
    assert handles(path) == before  # the file opened once, at load, for every thread


def test_a_thread_that_ends_hands_its_cursor_to_the_next(served):
    cursors: list[int] = []

    def read() -> None:
        cur = served.connection()
        assert cur.execute("SELECT count(*) FROM scores").fetchone()[0] > 0
        cursors.append(id(cur))

    for _ in range(50):  # a thread pool letting idle threads go and starting new ones
        thread = threading.Thread(target=read)
        thread.start()
        thread.join()
    assert len(cursors) == 50 and len(set(cursors)) == 1  # one cursor made, not fifty


def test_closing_the_context_closes_its_database_and_every_cursor(served):
    path = served.settings.warehouse_path
    before = handles(path)
    cur = served.connection()
    served.close()
    assert handles(path) == before - 1
    with pytest.raises(NotReady, match="send the request again"):
        served.connection()
    with pytest.raises(Exception, match="closed"):
        cur.execute("SELECT 1")


# --- serving: workers saving the same model cache at once -----------------------------------


def slow_save(files: dict[str, str], met: threading.Barrier | None):
    """A ``save`` that writes ``files`` into its folder and, with ``met``, waits for the other
    savers before it returns: every saver then renames into place with the others."""

    def save(folder: Path) -> None:
        folder.mkdir()
        for name, text in files.items():
            (folder / name).write_text(text)
        if met is not None:
            met.wait()

    return save


def test_savers_racing_for_one_model_cache_all_succeed_with_one_complete_copy(tmp_path):
    cache = tmp_path / "model-cache" / "risk-v3"
    savers = 4
    met = threading.Barrier(savers)

    def save(n: int) -> Path:
        files = {"MLmodel": f"saver {n}", "model.skops": f"weights of saver {n}"}
        return save_cache(cache, slow_save(files, met))

    with ThreadPoolExecutor(savers) as pool:
        done = list(pool.map(save, range(savers)))
    assert done == [cache] * savers  # none raised
    winner = (cache / "MLmodel").read_text().removeprefix("saver ")
    assert (cache / "model.skops").read_text() == f"weights of saver {winner}"
    assert sorted(p.name for p in cache.parent.iterdir()) == ["risk-v3"]  # no copy left over


def test_an_incomplete_cache_is_replaced_and_abandoned_copies_are_removed(tmp_path):
    cache = tmp_path / "risk-v3"
    cache.mkdir()
    (cache / "model.skops").write_text("half written, no MLmodel")
    dead = exited_pid()
    abandoned = tmp_path / f"risk-v3{SAVING_INFIX}{dead}-0a1b2c3d"
    abandoned.mkdir()
    live = tmp_path / f"risk-v3{SAVING_INFIX}{os.getpid()}-ffffffff"
    live.mkdir()  # a save still under way in a running process: kept
    save_cache(cache, slow_save({"MLmodel": "new", "model.skops": "new weights"}, None))
    assert (cache / "MLmodel").read_text() == "new"
    assert (cache / "model.skops").read_text() == "new weights"
    assert not abandoned.exists() and live.exists()


def test_a_failed_save_leaves_no_copy_behind(tmp_path):
    cache = tmp_path / "risk-v3"

    def fails(folder: Path) -> None:
        folder.mkdir()
        (folder / "MLmodel").write_text("partial")
        raise OSError("no space left on device")

    with pytest.raises(OSError, match="no space"):
        save_cache(cache, fails)
    assert list(tmp_path.iterdir()) == []


def exited_pid() -> int:
    """The id of a process that has exited."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(done.stdout)


# --- serving: a republish loads in a background thread --------------------------------------


class Loaded:
    """What a load made: a stand-in for a context, numbered in load order."""

    def __init__(self, n: int):
        self.model_version, self.model_source = str(n), "registry"
        self.meta = {"built_at": f"build {n}", "rows": "10"}
        self.data_timestamp = self.meta["built_at"]
        self.closed = False

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def runtime(tmp_path, monkeypatch):
    """A Runtime over a workspace whose loads the test holds open (``gate``) or fails
    (``failing``); ``publish()`` replaces the warehouse file as a publish does."""
    import api.runtime

    settings = Settings(_env_file=None, home=tmp_path / "ws")
    settings.warehouse_path.parent.mkdir(parents=True)
    settings.warehouse_path.write_text("published")
    gate, failing, made = threading.Event(), threading.Event(), []
    gate.set()

    def load(settings, serving=None):
        assert gate.wait(60)
        if failing.is_set():
            raise NotReady("the new warehouse is damaged")
        made.append(Loaded(len(made) + 1))
        return made[-1]

    def publish() -> None:
        staging = settings.warehouse_path.with_name("staging")
        staging.write_text(f"published again {len(made)}")
        os.replace(staging, settings.warehouse_path)

    monkeypatch.setattr(api.runtime, "load_context", load)
    rt = api.runtime.Runtime(settings)
    rt.gate, rt.failing, rt.made, rt.publish = gate, failing, made, publish
    yield rt
    gate.set()
    rt.close()


def settle(rt) -> None:
    load = rt._loading
    if load is not None:
        assert load.done.wait(60)


def test_a_republish_loads_in_the_background_while_the_old_context_serves(runtime):
    assert runtime.readiness().model_version == "1"  # the first load: waited for
    first = runtime.context()
    runtime.gate.clear()
    runtime.publish()
    assert runtime.context() is first  # the load started; the request did not wait
    during = runtime.readiness()
    assert during.status == "ready" and during.reloading and during.model_version == "1"
    assert any("reloading" in reason for reason in during.reasons)
    runtime.gate.set()
    settle(runtime)
    assert runtime.context() is runtime.made[1] and not first.closed  # a request may hold it
    after = runtime.readiness()
    assert after.model_version == "2" and not after.reloading and after.reasons == []
    runtime.publish()
    runtime.context()
    settle(runtime)
    assert first.closed  # retired two publishes ago: closed at the next reload


def test_with_nothing_served_yet_a_request_never_waits_for_the_first_publish(runtime):
    runtime.settings.warehouse_path.unlink()  # started before the first pipeline run
    with pytest.raises(NotReady, match="no warehouse yet"):
        runtime.context()
    runtime.gate.clear()
    runtime.publish()
    with pytest.raises(NotReady, match="loading"):
        runtime.context()  # answered while the load is held
    assert runtime.readiness(wait=False).reloading
    runtime.gate.set()
    assert runtime.readiness().model_version == "1"  # /ready waits (off the event loop)


def test_a_moved_warehouse_is_not_ready_and_serves_again_when_put_back(runtime):
    served = runtime.context()
    aside = runtime.settings.warehouse_path.with_name("aside")
    runtime.settings.warehouse_path.rename(aside)
    with pytest.raises(NotReady, match="missing"):
        runtime.context()
    assert runtime.readiness().status == "not_ready"
    aside.rename(runtime.settings.warehouse_path)
    assert runtime.context() is served and len(runtime.made) == 1  # the same file: no load


def test_a_republish_that_fails_to_load_leaves_the_old_context_serving(runtime):
    served = runtime.context()
    runtime.failing.set()
    runtime.publish()
    runtime.context()
    settle(runtime)
    assert runtime.context() is served
    ready = runtime.readiness()
    assert ready.status == "degraded" and "the new warehouse is damaged" in ready.reasons[0]
    assert runtime._loading is None  # retried after a pause, not on every request


def test_shutdown_waits_for_a_load_under_way_and_closes_everything(runtime):
    served = runtime.context()
    runtime.gate.clear()
    runtime.publish()
    runtime.context()
    closing = threading.Thread(target=runtime.close)
    closing.start()
    runtime.gate.set()
    closing.join(60)
    assert served.closed and runtime.made[-1].closed
    with pytest.raises(NotReady):
        runtime.context()
