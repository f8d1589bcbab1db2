"""The training pipeline: typed steps from ingest to a published warehouse."""
