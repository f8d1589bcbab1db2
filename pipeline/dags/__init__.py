"""Airflow DAGs that run SARA's pipeline (point Airflow's DAG folder here)."""
