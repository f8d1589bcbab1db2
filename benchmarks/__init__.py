"""Benchmarks: speed and scale of SARA's stages beside their baselines, measured in one run.

Results go to ``benchmarks/results/`` as JSON and markdown with the machine they ran on."""
