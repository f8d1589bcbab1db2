"""The synthetic cohort generator (SARA's embedded default data)."""
