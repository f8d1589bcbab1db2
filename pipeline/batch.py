"""Batch scoring beyond one machine: the registered champion as a Spark UDF.

``mlflow.pyfunc.spark_udf`` ships the model to every executor once and scores partitions as
pandas batches, so a cohort of any size is scored where it lives (a data lake, a warehouse
table). The score is the calibrated risk, the same number the API and the warehouse give.
Needs ``pyspark`` (and Java); the executors need SARA installed (``env_manager="local"``) or
a model environment MLflow can build."""

from __future__ import annotations

from typing import Any

from pipeline import registry
from sara.settings import Settings


def champion_uri(settings: Settings) -> str:
    return f"models:/{settings.model_name}@{registry.CHAMPION}"


def spark_risk_scores(
    spark: Any,
    students: Any,
    settings: Settings,
    model_uri: str | None = None,
    column: str = "risk_score",
    env_manager: str = "local",
) -> Any:
    """``students`` (a Spark DataFrame with the model's feature columns, other columns kept)
    with the champion's calibrated risk added as ``column``."""
    import mlflow.models
    import mlflow.pyfunc
    from pyspark.sql.functions import col, struct
    from pyspark.sql.types import ArrayType, DoubleType

    registry.configure(settings)
    uri = model_uri or champion_uri(settings)
    features = mlflow.models.get_model_info(uri).signature.inputs.input_names()
    missing = [f for f in features if f not in students.columns]
    if missing:
        raise ValueError(f"students lack the model's feature column(s): {', '.join(missing)}")
    probabilities = mlflow.pyfunc.spark_udf(
        spark, uri, result_type=ArrayType(DoubleType()), env_manager=env_manager
    )
    return students.withColumn(column, probabilities(struct(*[col(f) for f in features]))[1])
