"""Batch scoring on Spark (local mode): the registered champion through
`mlflow.pyfunc.spark_udf` gives every student the same risk score as the published warehouse."""

from __future__ import annotations

import logging
import os
import shutil
import sys

import numpy as np
import pandas as pd
import pytest

from pipeline.batch import spark_risk_scores

pytest.importorskip("pyspark", reason="pyspark is installed with the spark extra")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java"),
]


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    from pyspark.sql import SparkSession

    # Python workers must run in an environment with SARA installed (this one).
    previous = os.environ.get("PYSPARK_PYTHON")
    os.environ["PYSPARK_PYTHON"] = sys.executable

    session = (
        SparkSession.builder.master("local[2]")
        .appName("sara-test")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.local.dir", str(tmp_path_factory.mktemp("spark")))
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    # py4j logs at INFO when its connections are collected at exit, after pytest has closed
    # the streams it captured; only its warnings matter here.
    logging.getLogger("py4j").setLevel(logging.WARNING)
    yield session
    session.stop()
    if previous is None:
        os.environ.pop("PYSPARK_PYTHON", None)
    else:
        os.environ["PYSPARK_PYTHON"] = previous


def test_champion_scores_a_cohort_on_spark_like_the_warehouse(spark, published, ctx, tmp_path):
    ids = ctx.id_column
    cohort = ctx.sql(f'SELECT * FROM students ORDER BY "{ids}" LIMIT 2000')
    cohort_file = tmp_path / "cohort.parquet"
    cohort.to_parquet(cohort_file, index=False)
    students = spark.read.parquet(str(cohort_file)).repartition(4)
    scored = spark_risk_scores(spark, students, published)
    assert set(students.columns) < set(scored.columns)
    spark_scores = scored.select(ids, "risk_score").toPandas()
    expected = ctx.sql(
        "SELECT student_id, risk_score AS expected FROM scores WHERE student_id IN "
        "(SELECT unnest(?))",
        [cohort[ids].tolist()],
    )
    both = spark_scores.merge(expected, left_on=ids, right_on="student_id", validate="1:1")
    assert len(both) == len(cohort)
    np.testing.assert_allclose(both["risk_score"], both["expected"], rtol=0, atol=1e-9)


def test_a_cohort_without_the_model_features_is_refused_by_name(spark, published):
    students = spark.createDataFrame(pd.DataFrame({"student_id": ["S1"], "shoe_size": [42]}))
    with pytest.raises(ValueError, match="lack the model's feature column"):
        spark_risk_scores(spark, students, published)
