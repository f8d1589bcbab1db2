"""Serving: the HTTP API under wrk and the offline chat over the gold questions."""

from __future__ import annotations

from benchmarks.stages.bench import Bench


def http(bench: Bench) -> dict:
    import shutil

    from benchmarks import http as http_load

    if shutil.which("wrk") is None:
        return {"skipped": "wrk is not installed (apt-get install wrk)"}
    bench.close()
    result = http_load.run(
        students=bench.scale.pipeline,
        workers=2,
        concurrency=bench.scale.http_concurrency,
        seconds=bench.scale.http_seconds,
        repeats=bench.scale.repeats,
        batch=min(20_000, bench.scale.pipeline),
        home=bench.settings.home,
        progress=bench.progress,
    )
    return result


def chat(bench: Bench) -> dict:
    from evals.gold import load_sets
    from evals.harness import run_eval

    sets = load_sets()
    if bench.scale.chat_per_set:
        sets = {name: items[: bench.scale.chat_per_set] for name, items in sets.items()}
    report = run_eval(bench.settings, bench.ctx, sets)
    overall = report["overall"]
    keys = ("latency_p50_ms", "latency_p95_ms", "own_p50_ms", "own_p95_ms")
    figures = {k: overall.get(k) for k in keys}
    bench.progress(f"chat: {figures}")
    return {"questions": sum(len(v) for v in sets.values()), **figures}
