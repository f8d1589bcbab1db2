"""The data contract, loaders and the synthetic cohort generator."""
