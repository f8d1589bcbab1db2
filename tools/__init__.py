"""The tools: typed, pure functions that every surface of SARA calls."""
