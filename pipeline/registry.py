"""MLflow: where runs are tracked and the champion model is registered and found again.

Works with the sqlite store in the workspace (the default) or any tracking/registry URI."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING

import pandas as pd

from sara.settings import Settings

if TYPE_CHECKING:
    from pipeline.model import RiskModel

log = logging.getLogger(__name__)
CHAMPION = "champion"
# Only models this pipeline trained and registered are loaded, so their types are trusted.
TRUSTED_TYPES = [
    "pipeline.model.RiskModel",
    "pipeline.model.Calibrator",
    "xgboost.core.Booster",
    "xgboost.sklearn.XGBClassifier",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "numpy.dtype",  # the mean imputer of linear models keeps the dtype it was fitted on
]


@dataclass(frozen=True)
class ChampionInfo:
    name: str
    version: str
    run_id: str
    tags: dict[str, str]


def configure(settings: Settings):
    """Point MLflow at the settings' stores; returns a client. Creates the experiment (with
    artifacts in the workspace) on first use."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # MLflow's client retries an unreachable server 7 times with doubling back-off (about
    # 4 minutes) before failing; an app starting during a registry outage should serve its
    # cached champion sooner. Both stay overridable through MLflow's own variables.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.registry_uri)
    if mlflow.get_experiment_by_name(settings.mlflow_experiment) is None:
        location = None
        if settings.mlflow_tracking_uri is None:
            settings.artifacts_dir.mkdir(parents=True, exist_ok=True)
            location = settings.artifacts_dir.resolve().as_uri()
        mlflow.create_experiment(settings.mlflow_experiment, artifact_location=location)
    mlflow.set_experiment(settings.mlflow_experiment)
    return MlflowClient()


def champion_info(client, model_name: str) -> ChampionInfo | None:
    """The version behind the ``champion`` alias, or None when there is none yet."""
    from mlflow.exceptions import MlflowException

    try:
        version = client.get_model_version_by_alias(model_name, CHAMPION)
    except MlflowException:
        return None
    return ChampionInfo(model_name, str(version.version), version.run_id, dict(version.tags))


def load_version(model_name: str, version: str) -> RiskModel:
    import mlflow.sklearn

    return mlflow.sklearn.load_model(f"models:/{model_name}/{version}")


def pip_requirements() -> list[str]:
    """Pinned requirements for the logged model (MLflow would infer both xgboost names)."""
    names = ["scikit-learn", "xgboost-cpu", "numpy", "pandas", "scipy", "shap"]
    pins = []
    for name in names:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return pins


def log_model_version(model, example: pd.DataFrame, model_name: str, tags: dict[str, str]) -> str:
    """Log ``model`` in the active run, register it, tag the version; returns the version."""
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    # The generic (pyfunc) flavour returns what `predict_proba` does: per student, the
    # probabilities of [no risk, risk], the second being the calibrated risk score. That is
    # what batch scoring elsewhere (e.g. `mlflow.pyfunc.spark_udf`) needs, not 0/1 labels.
    signature = infer_signature(example, model.predict_proba(example))
    info = mlflow.sklearn.log_model(
        model,
        name="model",
        signature=signature,
        pyfunc_predict_fn="predict_proba",
        input_example=example.head(5),
        registered_model_name=model_name,
        pip_requirements=pip_requirements(),
        # skops refuses classes it does not know; these are SARA's wrappers and XGBoost's.
        skops_trusted_types=TRUSTED_TYPES,
    )
    version = str(info.registered_model_version)
    client = mlflow.MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(model_name, version, key, value)
    return version


def set_champion(client, model_name: str, version: str) -> None:
    client.set_registered_model_alias(model_name, CHAMPION, version)
