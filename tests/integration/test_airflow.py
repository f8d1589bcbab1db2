"""The Airflow DAG: it imports cleanly and without side effects, and `airflow dags test` runs
the whole pipeline on a small generated cohort with a real MLflow sqlite store and DuckDB file.
Airflow runs in subprocesses with its own home, so its logging and configuration stay out of
the test process."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from mlflow import MlflowClient

from pipeline import warehouse
from sara.settings import Settings
from tests.timeouts import COMMAND_TIMEOUT_S, PIPELINE_TIMEOUT_S

pytest.importorskip("airflow", reason="Airflow is installed with the dev extra")
pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "pipeline" / "dags"
DAG_ID = "sara_pipeline"
STAGES = ["ingest", "validate", "train", "evaluate", "register", "publish"]


@pytest.fixture(scope="module")
def airflow(tmp_path_factory):
    """An Airflow home with a migrated sqlite database, and the SARA workspace its tasks use."""
    root = tmp_path_factory.mktemp("airflow")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SARA_", "AIRFLOW"))},
        "AIRFLOW_HOME": str(root / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "SARA_HOME": str(root / "sara"),
        "SARA_CANDIDATES": '["logreg"]',  # one candidate: the DAG, not model choice, is tested
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    _airflow(env, "db", "migrate")
    return env


def _airflow(env: dict, *args: str, check: bool = True) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "airflow", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=PIPELINE_TIMEOUT_S,  # `dags test` runs the whole pipeline
    )
    if check and done.returncode != 0:
        log = Path(env["AIRFLOW_HOME"]) / "last-failure.log"
        log.write_text(done.stdout + done.stderr)
        pytest.fail(f"airflow {' '.join(args)} failed; its output is in {log}")
    return done.stdout


def _dag_test(env: dict, conf: dict) -> dict[str, tuple[str, int]]:
    """Run the DAG once (a failed run is checked by its tasks' states); each task's
    (state, tries) in that run."""
    _airflow(env, "dags", "test", DAG_ID, "--conf", json.dumps(conf), check=False)
    with sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db") as db:
        (run_id,) = db.execute(
            "SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (DAG_ID,)
        ).fetchone()
        rows = db.execute(
            "SELECT task_id, state, try_number FROM task_instance WHERE dag_id = ? AND run_id = ?",
            (DAG_ID, run_id),
        ).fetchall()
    return {task: (state, tries) for task, state, tries in rows}


def _workspace(env: dict) -> Settings:
    return Settings(home=Path(env["SARA_HOME"]))


def _champion(settings: Settings) -> str:
    client = MlflowClient(settings.tracking_uri, settings.registry_uri)
    return str(client.get_model_version_by_alias(settings.model_name, "champion").version)


def test_dag_file_imports_without_errors_or_side_effects(airflow, tmp_path):
    probe = (
        "import json, sys\n"
        "from pipeline.dags.sara_pipeline import DAG_ID\n"
        "import pipeline.dags.sara_pipeline as module\n"
        "dag = module.pipeline_dag\n"
        "tasks = {t.task_id: {'retries': t.retries, 'down': sorted(t.downstream_task_ids),\n"
        "         'rule': t.trigger_rule} for t in dag.tasks}\n"
        "print(json.dumps({'dag': dag.dag_id, 'schedule': str(dag.schedule), 'tasks': tasks,\n"
        "  'heavy': sorted(m for m in ('pipeline.run', 'mlflow', 'xgboost', 'duckdb',\n"
        "                              'sara.settings') if m in sys.modules)}))\n"
    )
    env = {**airflow, "SARA_HOME": str(tmp_path / "untouched")}
    found = json.loads(
        subprocess.run(
            [sys.executable, "-c", probe],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=COMMAND_TIMEOUT_S,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    assert found["dag"] == DAG_ID and found["schedule"] == "@weekly"
    tasks = found["tasks"]
    for upstream, downstream in pairwise(STAGES):
        assert tasks[upstream]["down"] == [downstream]
    assert tasks["publish"]["down"] == ["clean_up"]
    assert tasks["clean_up"]["rule"] == "none_failed"
    # Transient failures (source, registry, warehouse) retry; the deterministic steps do not.
    assert {t for t, v in tasks.items() if v["retries"] > 0} == {"ingest", "register", "publish"}
    assert found["heavy"] == [], "the DAG file must import SARA's modules only inside tasks"
    assert not (tmp_path / "untouched").exists(), "importing the DAG wrote to the workspace"
    assert "No data found" in _airflow(airflow, "dags", "list-import-errors")


@pytest.fixture(scope="module")
def cohort(airflow, tmp_path_factory) -> Path:
    from data.synthetic.cohort import write_cohort

    path = tmp_path_factory.mktemp("cohort") / "cohort.parquet"
    write_cohort(path, 2000, seed=11)
    return path


@pytest.fixture(scope="module")
def first_run(airflow, cohort):
    return _dag_test(airflow, {"data": str(cohort)})


def test_dag_runs_the_pipeline_and_publishes(airflow, first_run, cohort):
    assert first_run == {task: ("success", 1) for task in [*STAGES, "clean_up"]}
    settings = _workspace(airflow)
    assert _champion(settings) == "1"
    meta = warehouse.read_meta(settings.warehouse_path)
    assert meta["model_version"] == "1" and meta["data_source"] == str(cohort)
    students = len(pd.read_parquet(cohort))
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as db:
        assert db.execute("SELECT count(*) FROM scores").fetchone()[0] == students
    # Tasks passed references, never data; a finished run leaves no staging behind.
    with sqlite3.connect(Path(airflow["AIRFLOW_HOME"]) / "airflow.db") as db:
        sizes = db.execute("SELECT task_id, length(value) FROM xcom").fetchall()
        published = json.loads(
            db.execute(
                "SELECT value FROM xcom WHERE task_id = 'publish' AND key = 'return_value' "
                "ORDER BY dag_run_id DESC LIMIT 1"
            ).fetchone()[0]
        )
    assert sizes and max(size for _, size in sizes) < 1024
    assert published["status"] == "promoted" and published["fingerprint"] == meta["fingerprint"]
    assert not any(settings.staging_dir.iterdir())


def test_same_data_again_skips_the_rest_of_the_run(airflow, first_run, cohort):
    settings = _workspace(airflow)
    built = warehouse.read_meta(settings.warehouse_path)["built_at"]
    states = _dag_test(airflow, {"data": str(cohort)})
    assert states["validate"] == ("success", 1)
    assert {states[t][0] for t in STAGES[2:]} == {"skipped"}
    assert states["clean_up"][0] == "success"
    assert warehouse.read_meta(settings.warehouse_path)["built_at"] == built
    assert _champion(settings) == "1"


def test_quality_gate_stops_the_run_before_anything_is_published(
    airflow, first_run, cohort, tmp_path
):
    settings = _workspace(airflow)
    built = warehouse.read_meta(settings.warehouse_path)["built_at"]
    frame = pd.read_parquet(cohort)
    frame.loc[: len(frame) // 5, "GPA"] = 9.0  # a fifth of the rows out of range
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    states = _dag_test(airflow, {"data": str(bad)})
    assert states["validate"] == ("failed", 1), "the gate fails once, without retrying"
    assert {states[t][0] for t in [*STAGES[2:], "clean_up"]} == {"upstream_failed"}
    assert warehouse.read_meta(settings.warehouse_path)["built_at"] == built
    assert _champion(settings) == "1"
    assert list(settings.quarantine_dir.glob("bad-*.issues.csv"))
    # The failed run keeps its staging, so a cleared task can restart from its input.
    assert any(settings.staging_dir.iterdir())
