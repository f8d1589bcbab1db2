"""Building the workspace: cohort generation, the pipeline end to end, and the champion's
quality beside its baselines."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

import numpy as np
import pandas as pd

from benchmarks.stages.bench import Bench


def generation(bench: Bench) -> dict:
    """`sara data generate` in a fresh process per size: seconds and peak RSS."""
    rows = []
    for n in bench.scale.generation:
        runs = [_generate(bench, n) for _ in range(bench.scale.repeats)]
        seconds = statistics.median(r["seconds"] for r in runs)
        rows.append(
            {
                "students": n,
                "seconds": round(seconds, 2),
                "us_per_row": round(seconds / n * 1e6, 3),
                "peak_rss_gb": round(max(r["peak_rss_kb"] for r in runs) / 1024**2, 2),
            }
        )
        bench.progress(f"generation {n:,}: {seconds:.1f} s")
    return {"rows": rows}


def _generate(bench: Bench, n: int) -> dict:
    out = bench.folder / f"gen-{n}.parquet"
    code = (
        "import json, resource, sys, time\n"
        "from data.synthetic.cohort import write_cohort\n"
        "t = time.perf_counter()\n"
        f"write_cohort({str(out)!r}, {n}, 7)\n"
        "print(json.dumps({'seconds': time.perf_counter() - t,\n"
        "  'peak_rss_kb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    for path in bench.folder.glob(f"gen-{n}*"):
        path.unlink()
    return json.loads(done.stdout.strip().splitlines()[-1])


def pipeline(bench: Bench) -> dict:
    from pipeline.run import run_pipeline

    started = time.perf_counter()
    result = run_pipeline(bench.settings, generate=bench.scale.pipeline, progress=lambda _: None)
    total = time.perf_counter() - started
    bench.progress(f"pipeline {bench.scale.pipeline:,}: {total:.0f} s ({result.candidate})")
    return {
        "students": bench.scale.pipeline,
        "seconds": round(total, 1),
        "steps": {k: round(v, 2) for k, v in result.timings.items()},
        "champion": result.candidate,
        "runs": 1,
    }


def quality(bench: Bench) -> dict:
    """The champion on the held-out test set beside the oracle, the attendance rule and the
    seed's approach (logistic regression on label-encoded columns)."""
    from sklearn.linear_model import LogisticRegression

    from pipeline.evaluate import evaluate

    metrics = bench.ctx.sql("SELECT model, metric, value FROM model_metrics")
    table = metrics.pivot(index="model", columns="metric", values="value")
    rows = [
        {
            "model": name,
            **{m: round(float(table.loc[name, m]), 4) for m in ("roc_auc", "pr_auc", "brier")},
        }
        for name in table.index
    ]
    split = bench.split()
    features = list(bench.ctx.model.features)

    text = [f for f in features if not pd.api.types.is_numeric_dtype(split.train[f])]
    codes = {f: sorted(split.train[f].astype(str).unique()) for f in text}

    def encode(frame: pd.DataFrame) -> np.ndarray:
        """Each text column as its value's index in the training data's sorted values."""
        return np.column_stack(
            [
                pd.Categorical(frame[f].astype(str), categories=codes[f]).codes
                if f in codes
                else frame[f].astype(float)
                for f in features
            ]
        )

    seed = LogisticRegression(max_iter=2000).fit(encode(split.train), split.y_train)
    score = seed.predict_proba(encode(split.test))[:, 1]
    ev = evaluate("seed", split.y_test, score, None, bench.ctx.settings.risk_high_threshold, 20)
    rows.append(
        {
            "model": "seed approach (logistic regression, label-encoded)",
            **{m: round(ev.metrics[m], 4) for m in ("roc_auc", "pr_auc", "brier")},
        }
    )
    bench.progress("quality: " + ", ".join(f"{r['model']} {r['roc_auc']}" for r in rows))
    return {"rows": rows, "test_students": len(split.y_test)}
