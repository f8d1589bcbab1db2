"""SARA's scheduled pipeline as an Airflow 3 DAG: ingest → validate → train → evaluate →
register → publish → clean up.

Each task runs the stage of the same name from `pipeline.run`, the functions `sara pipeline run`
calls. Tasks hand each other only a small reference (the path of the run saved in the
workspace's staging folder, and the status once the run is over), never data. Settings come from
the same ``SARA_*`` environment as the CLI and the app.

- The data-quality gate: when validation quarantines more than ``SARA_MAX_QUARANTINE_SHARE`` of
  the rows, the validate task fails without retrying and nothing is trained or published.
- When the champion and warehouse already come from this data, the rest of the run is skipped.
- Reading the source, registering and publishing retry (a file share, the MLflow server or a
  locked warehouse can fail for a moment); training and evaluation do not.
- A failed run keeps its staging folder, so a cleared task restarts from its input; a finished
  run removes it.

Importing this file defines the DAG and nothing else: SARA's modules are imported inside the
tasks, so parsing the DAG folder stays fast and touches no file.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta

import pendulum
from airflow.sdk import Param, TriggerRule, dag, get_current_context, task

DAG_ID = "sara_pipeline"
SCHEDULE = os.environ.get("SARA_PIPELINE_SCHEDULE", "@weekly")
TRANSIENT = {
    "retries": 3,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
}
ONCE = {"retries": 0}


def _staging(settings) -> os.PathLike:
    run_id = get_current_context()["run_id"]
    return settings.staging_dir / re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id)


def _run(name: str, ref: dict) -> dict:
    """Run one stage on the saved run ``ref`` points at; the reference to the next one."""
    import logging
    from pathlib import Path

    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from pipeline.run import run_stage
    from pipeline.steps import DataQualityError
    from sara.settings import Settings

    if ref["status"] is not None:
        raise AirflowSkipException(f"the run is over ({ref['status']}): {ref['reason']}")
    try:
        path, result = run_stage(
            name, Settings(), Path(ref["run"]), logging.getLogger(f"sara.{name}").info
        )
    except DataQualityError as exc:  # the gate: retrying cannot fix the data
        raise AirflowFailException(f"data-quality gate: {exc}") from exc
    return _reference(path, result)


def _reference(path, result) -> dict:
    return {
        "run": str(path),
        "status": result.status if result else None,
        "reason": result.reason if result else None,
        "model_version": result.model_version if result else None,
        "fingerprint": result.fingerprint if result else None,
    }


@dag(
    dag_id=DAG_ID,
    description="Train, evaluate, register and publish SARA's risk model.",
    schedule=SCHEDULE,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=6),
    tags=["sara"],
    params={
        "data": Param(
            None,
            type=["null", "string"],
            description="Cohort file (CSV, Parquet, …); empty means the workspace cohort.",
        ),
        "generate": Param(
            None,
            type=["null", "integer"],
            minimum=100,
            description="Generate a synthetic cohort of this many students first.",
        ),
        "spec": Param(
            None, type=["null", "string"], description="Dataset spec YAML; empty: SARA_SPEC_PATH."
        ),
        "feature_set": Param(
            None, type=["null", "string"], description="early or full; empty: SARA_FEATURE_SET."
        ),
    },
    doc_md=__doc__,
)
def sara_pipeline():
    @task(**TRANSIENT)
    def ingest() -> dict:
        from pathlib import Path

        from pipeline.run import begin_run
        from sara.settings import Settings

        settings = Settings()
        params = get_current_context()["params"]
        start = begin_run(
            settings,
            Path(_staging(settings)),
            data=Path(params["data"]) if params.get("data") else None,
            generate=params.get("generate"),
            spec_path=Path(params["spec"]) if params.get("spec") else None,
            feature_set=params.get("feature_set"),
        )
        return _run("ingest", _reference(start, None))

    @task(**ONCE)
    def validate(ref: dict) -> dict:
        return _run("validate", ref)

    @task(**ONCE)
    def train(ref: dict) -> dict:
        return _run("train", ref)

    @task(**ONCE)
    def evaluate(ref: dict) -> dict:
        return _run("evaluate", ref)

    @task(**TRANSIENT)
    def register(ref: dict) -> dict:
        return _run("register", ref)

    @task(**TRANSIENT)
    def publish(ref: dict) -> dict:
        return _run("publish", ref)

    @task(trigger_rule=TriggerRule.NONE_FAILED, **ONCE)
    def clean_up() -> None:
        """Remove the run's staging folder once it finished or had nothing to do."""
        import shutil

        from sara.settings import Settings

        shutil.rmtree(_staging(Settings()), ignore_errors=True)

    checked = validate(ingest())
    published = publish(register(evaluate(train(checked))))
    published >> clean_up()


pipeline_dag = sara_pipeline()
