"""SARA, the Student Academic Risk Assistant: composition root (settings and CLI)."""

import warnings

# PySpark (present for the Spark batch scorer) warns on every import, through MLflow, that it
# does not yet support pandas 3; SARA does not use pyspark.pandas, so the notice is noise on
# every command's stderr. Spark scoring is tested on its own (tests/integration/test_spark.py).
warnings.filterwarnings(
    "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
)

__version__ = "0.1.0"
