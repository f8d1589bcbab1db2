"""Built-in dataset specs (YAML)."""
