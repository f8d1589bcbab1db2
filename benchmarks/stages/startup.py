"""Start-up: how long commands take from the shell, beside the interpreter alone and the
libraries a served model cannot do without, measured in the same run (medians of
``repeats`` after one run that warms the file cache)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

from benchmarks.stages.bench import Bench

QUESTION = "how many students are high risk?"  # risk levels are SARA's own words
LIBRARIES = "import numpy, pandas, scipy.stats, sklearn.pipeline, xgboost"
LOAD = (
    "from sara.settings import get_settings; from tools.context import load_context; "
    "load_context(get_settings(), local_first={}).close()"
)


def startup(bench: Bench) -> dict:
    from benchmarks.http import Server

    bench.close()
    env = {**os.environ, "SARA_HOME": str(bench.settings.home), "SARA_LOG_LEVEL": "WARNING"}
    python, sara = [sys.executable], [sys.executable, "-m", "sara.cli"]
    commands = {
        "python (the interpreter alone)": [*python, "-c", "pass"],
        "numpy, pandas, scipy, scikit-learn, xgboost imported": [*python, "-c", LIBRARIES],
        "sara keys list": [*sara, "keys", "list"],
        "served model and warehouse loaded, from the registry": [
            *python, "-c", LOAD.format(False),
        ],
        "served model and warehouse loaded, from the publish's checked copy": [
            *python, "-c", LOAD.format(True),
        ],
        "sara chat, one question": [*sara, "chat", QUESTION],
    }  # fmt: skip
    rows = []
    for name, command in commands.items():
        seconds = _median_wall(command, env, bench.scale.repeats)
        rows.append({"command": name, "seconds": round(seconds, 2)})
        bench.progress(f"start-up: {name}: {seconds:.2f} s")
    ready = []
    for _ in range(bench.scale.repeats):
        started = time.perf_counter()
        server = Server(bench.settings.home, workers=1)
        try:
            server.wait_ready()
            ready.append(time.perf_counter() - started)
        finally:
            server.stop()
    rows.append({"command": "sara serve, ready (one worker)", "seconds": round(
        statistics.median(ready), 2)})  # fmt: skip
    bench.progress(f"start-up: app ready in {rows[-1]['seconds']} s")
    return {"students": bench.scale.pipeline, "repeats": bench.scale.repeats, "rows": rows}


def _median_wall(command: list[str], env: dict[str, str], repeats: int) -> float:
    times = []
    for run in range(repeats + 1):
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command[1:])} failed: {done.stderr[-500:]}")
        if run:  # the first run warms the file cache
            times.append(elapsed)
    return statistics.median(times)
