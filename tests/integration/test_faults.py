"""Faults around a published workspace: the warehouse moved away or locked by another process
while the API runs, the pipeline killed in the middle of publishing, and the disk filling up.
The API answers 503 naming what is wrong and recovers without a restart; the published
warehouse, the champion alias and the model cache survive; a later run succeeds."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data.synthetic.cohort import write_cohort
from pipeline import registry, warehouse
from pipeline.faults import disk_full
from pipeline.run import run_pipeline
from sara.settings import Settings
from tests.timeouts import COMMAND_TIMEOUT_S, PIPELINE_TIMEOUT_S, STOP_TIMEOUT_S

pytestmark = pytest.mark.integration

FAST_ENV = '["logreg"]'  # runs under test train one candidate: the faults are not in training
STUDENT = "/v1/students/S0000010/risk"
EQUITY = ("/v1/equity/query", {"metric": "outcome_rate", "group_by": ["Locale"]})
# The runtime retries a failed load every 10 s; the wait allows for many missed retries.
RECOVERY_WAIT_S = 300


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _champion(settings: Settings) -> str:
    client = registry.configure(settings)
    return registry.champion_info(client, settings.model_name).version


# The CLI with the warehouse build held once its file is written, before the swap, until the
# process is killed: the test kills a run in the middle of publishing however slow the machine.
HELD_PUBLISH_CLI = """
import threading
from pipeline import warehouse
build = warehouse.build
def build_then_hold(path, tables, *rest):
    build(path, tables, *rest)
    threading.Event().wait()
warehouse.build = build_then_hold
from sara.cli import app
app(prog_name="sara")
"""


def _cli(settings: Settings, *args: str, hold_publish: bool = False, **popen) -> subprocess.Popen:
    env = {**os.environ, "SARA_HOME": str(settings.home), "SARA_CANDIDATES": FAST_ENV}
    entry = ["-c", HELD_PUBLISH_CLI] if hold_publish else ["-m", "sara.cli"]
    return subprocess.Popen(
        [sys.executable, *entry, "pipeline", "run", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


@contextmanager
def _app(settings: Settings):
    """A TestClient on the app, with a staff and a viewer key."""
    from fastapi.testclient import TestClient

    from api.keys import KeyStore
    from api.main import create_app

    store = KeyStore(settings.keys_path)
    staff = {"Authorization": f"Bearer {store.create('faults-staff', 'staff')[1]}"}
    viewer = {"Authorization": f"Bearer {store.create('faults-viewer', 'viewer')[1]}"}
    with TestClient(create_app(settings)) as client:
        client.staff, client.viewer = staff, viewer
        yield client


def _student(client):
    return client.get(STUDENT, headers=client.staff)


def _equity(client):
    return client.post(EQUITY[0], json=EQUITY[1], headers=client.viewer)


def _assert_not_ready(response, *phrases: str) -> None:
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "not_ready"
    for phrase in phrases:
        assert phrase in error["message"], error["message"]


def _wait_reloaded(client, settings: Settings) -> dict:
    """/ready once the app serves the warehouse now published (a republish loads in the
    background while the previous one answers)."""
    built_at = warehouse.read_meta(settings.warehouse_path)["built_at"]
    deadline = time.monotonic() + RECOVERY_WAIT_S
    while True:
        ready = client.get("/ready").json()
        if ready["data_timestamp"] == built_at and not ready["reloading"]:
            return ready
        assert time.monotonic() < deadline, ready
        time.sleep(0.2)


def _wait_served(client, expected: dict) -> None:
    deadline = time.monotonic() + RECOVERY_WAIT_S
    while True:
        response = _student(client)
        if response.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert response.status_code == 200, response.text
    assert response.json() == expected


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Settings:
    settings = Settings(home=tmp_path_factory.mktemp("faults") / "ws", candidates=("logreg",))
    run_pipeline(settings, generate=2000, progress=lambda _: None)
    return settings


def test_missing_warehouse_is_503_then_served_again(workspace):
    path = workspace.warehouse_path
    aside = path.with_name("moved-away.duckdb")
    with _app(workspace) as client:
        published = _student(client)
        assert published.status_code == 200 and _equity(client).status_code == 200
        path.rename(aside)
        try:
            for response in (_student(client), _equity(client)):
                _assert_not_ready(response, str(path), "missing", "sara pipeline run")
            ready = client.get("/ready")
            assert ready.status_code == 503
            assert ready.json()["status"] == "not_ready"
            assert any("missing" in reason for reason in ready.json()["reasons"])
        finally:
            aside.rename(path)
        _wait_served(client, published.json())
        assert _equity(client).status_code == 200
        assert client.get("/ready").json()["status"] in ("ready", "degraded")


LOCKER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])  # a writer: DuckDB lets one process write a file
print("locked", flush=True)
sys.stdin.read()
con.close()
"""


def test_warehouse_locked_by_another_process_is_503_then_recovers(workspace):
    path = workspace.warehouse_path
    before = _sha(path)
    with _app(workspace) as client:
        published = _student(client).json()
    # Our app's read-only connections are closed now, so the other process can take the lock.
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert locker.stdout.readline().strip() == "locked", locker.stderr.read()
        with _app(workspace) as client:
            for response in (_student(client), _equity(client)):
                _assert_not_ready(response, str(path), "lock")
            ready = client.get("/ready")
            assert ready.status_code == 503 and ready.json()["status"] == "not_ready"
            blocked = _cli(workspace)
            out, err = blocked.communicate(timeout=PIPELINE_TIMEOUT_S)
            assert blocked.returncode == 1, out
            assert "Traceback" not in err, err
            assert f"the warehouse {path} cannot be opened" in err
            locker.communicate("", timeout=STOP_TIMEOUT_S)  # the writer closes and exits
            _wait_served(client, published)
            assert _equity(client).status_code == 200
    finally:
        if locker.poll() is None:
            locker.kill()
            locker.wait()
    assert _sha(path) == before  # the other process only held the lock


def test_pipeline_killed_while_publishing_leaves_the_old_warehouse(workspace, tmp_path):
    path = workspace.warehouse_path
    before, champion = _sha(path), _champion(workspace)
    new_data = tmp_path / "next-term.parquet"
    write_cohort(new_data, 2000, 13, "realistic")  # not the workspace cohort (seed 7)
    with _app(workspace) as client:
        published = _student(client).json()
        run = _cli(workspace, "--data", str(new_data), hold_publish=True)
        staging = path.with_name(f"{path.name}{warehouse.STAGING_INFIX}{run.pid}")
        deadline = time.monotonic() + PIPELINE_TIMEOUT_S
        while not staging.exists() and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        run.send_signal(signal.SIGKILL)
        out, err = run.communicate(timeout=STOP_TIMEOUT_S)
        assert run.returncode == -signal.SIGKILL, f"the run ended before publishing:\n{out}{err}"
        assert "publish …" in out
        assert staging.exists()  # killed mid-build: its temporary file is left behind

        assert _sha(path) == before
        assert _champion(workspace) == champion
        assert _student(client).json() == published  # the temporary file is never read
        assert client.get("/ready").json()["status"] in ("ready", "degraded")

        again = _cli(workspace, "--data", str(new_data))
        out, err = again.communicate(timeout=PIPELINE_TIMEOUT_S)
        assert again.returncode == 0, err
        assert "Traceback" not in err
        assert not staging.exists()  # the killed run's leftover is cleaned
        assert not list(path.parent.glob(f"{path.name}{warehouse.STAGING_INFIX}*"))
        assert warehouse.read_meta(path)["data_source"] == str(new_data)
        assert _student(client).status_code == 200
        assert _wait_reloaded(client, workspace)["model_version"] == _champion(workspace)


def _published_score(settings: Settings, student: str) -> float:
    with warehouse.open_read_only(settings.warehouse_path) as con:
        query = "SELECT risk_score FROM scores WHERE student_id = ?"
        return con.execute(query, [student]).fetchone()[0]


def test_republished_warehouse_scores_are_served_without_restart(workspace, tmp_path):
    new_data = tmp_path / "spring.parquet"
    write_cohort(new_data, 2000, 11, "realistic")
    with _app(workspace) as client:
        before = _student(client).json()  # the API gives scores to 4 decimals
        published = _published_score(workspace, "S0000010")
        assert before["risk_score"] == pytest.approx(published, abs=5e-5)
        fast = Settings(home=workspace.home, candidates=("logreg",))
        run_pipeline(fast, data=new_data, progress=lambda _: None)
        now = _published_score(workspace, "S0000010")
        assert now != pytest.approx(before["risk_score"], abs=5e-5)  # another student, same id
        _wait_reloaded(client, workspace)
        assert _student(client).json()["risk_score"] == pytest.approx(now, abs=5e-5)


@pytest.fixture
def small_disk(tmp_path):
    """A 64 MiB tmpfs mounted for the test (needs root and mount rights), unmounted after."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here to fill a disk: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        umount = ["umount", str(mount)]
        if subprocess.run(umount, capture_output=True, timeout=COMMAND_TIMEOUT_S).returncode:
            subprocess.run(["umount", "-l", str(mount)], check=True, timeout=COMMAND_TIMEOUT_S)


def _fill(mount: Path, leave_bytes: int) -> Path:
    filler = mount / "filler"
    free = shutil.disk_usage(mount).free
    with filler.open("wb") as handle:
        handle.truncate(0)
        handle.write(b"\xff" * max(0, free - leave_bytes))
    return filler


def _files(home: Path) -> dict[str, str]:
    return {str(p.relative_to(home)): _sha(p) for p in sorted(home.rglob("*")) if p.is_file()}


def test_full_disk_stops_the_run_and_keeps_serving(small_disk, tmp_path):
    settings = Settings(home=small_disk / "ws", candidates=("logreg",))
    run_pipeline(settings, generate=2000, progress=lambda _: None)
    new_data = tmp_path / "next-term.parquet"
    write_cohort(new_data, 2000, 13, "realistic")  # not the workspace cohort (seed 7)
    with _app(settings) as client:
        published = _student(client).json()  # the app also writes its model cache now
        cache = settings.home / "model-cache"
        assert any(cache.rglob("MLmodel"))
        before, champion = _files(settings.home), _champion(settings)
        filler = _fill(small_disk, 1 * 2**20)

        run = _cli(settings, "--data", str(new_data))
        out, err = run.communicate(timeout=PIPELINE_TIMEOUT_S)
        assert run.returncode == 1, out
        assert "Traceback" not in err + out, err
        line = next(line for line in err.splitlines() if line.startswith("error:"))
        assert "no space left on device" in line and str(settings.home) in line, line

        after = _files(settings.home)
        for name in ("warehouse.duckdb", *[n for n in before if n.startswith("model-cache/")]):
            assert after[name] == before[name], f"{name} changed"
        assert not [n for n in after if n not in before], "files were written"
        assert _champion(settings) == champion
        assert _student(client).json() == published

        # A disk that fills while the warehouse is being built: the build fails, its file goes.
        target = settings.warehouse_path
        tables = {name: pd.DataFrame({"x": [1]}) for name in warehouse.TABLES}
        tables["students"] = pd.DataFrame(np.random.default_rng(3).random((400_000, 8)))
        with pytest.raises(Exception) as failure:
            warehouse.publish(target, tables)
        message = disk_full(failure.value, settings.home)
        assert message is not None, repr(failure.value)
        assert "no space left on the device" in message and str(small_disk) in message
        assert not list(target.parent.glob(f"{target.name}{warehouse.STAGING_INFIX}*"))
        assert _sha(target) == before["warehouse.duckdb"]
        assert _student(client).json() == published

        filler.unlink()
        run = _cli(settings, "--data", str(new_data))
        out, err = run.communicate(timeout=PIPELINE_TIMEOUT_S)
        assert run.returncode == 0, err
        assert _student(client).status_code == 200
