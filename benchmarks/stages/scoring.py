"""Scoring and explaining: batch scoring beside `mlflow.pyfunc`, full-cohort exact explanations
and one student's explanation beside TreeExplainer."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.stages.bench import Bench, median_time, percentiles


def scoring(bench: Bench) -> dict:
    """SARA's scorer (encode once, the model's own predict) vs `mlflow.pyfunc` on a
    DataFrame; and scoring plus exact explanations plus phrases, as publishing does."""
    import mlflow.pyfunc

    from pipeline import registry
    from pipeline.steps import score_step

    model = bench.ctx.model
    registry.configure(bench.settings)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{bench.settings.model_name}@champion")
    rows = []
    for n in bench.scale.scoring:
        frame = bench.cohort(n)[model.features]
        sara, risk = median_time(lambda f=frame: model.predict_proba(f)[:, 1], bench.scale.repeats)
        base, probabilities = median_time(lambda f=frame: pyfunc.predict(f), bench.scale.repeats)
        assert np.allclose(np.asarray(probabilities)[:, 1], risk)
        explained, _ = median_time(
            lambda f=frame: score_step(model, f, bench.ctx.spec, bench.ctx.settings), 1
        )
        rows.append(
            {
                "students": n,
                "sara_rows_per_s": round(n / sara),
                "pyfunc_rows_per_s": round(n / base),
                "ratio": round(base / sara, 2),
                "score_and_explain_s": round(explained, 2),
            }
        )
        bench.progress(f"scoring {n:,}: {n / sara:,.0f} rows/s vs pyfunc {n / base:,.0f}")
    return {"rows": rows, "family": model.family}


def explanations(bench: Bench) -> dict:
    """Exact contributions of the champion over whole cohorts, beside TreeExplainer on
    XGBoost models of the sizes people default to, trained on the same data."""
    import shap
    import xgboost as xgb
    from sklearn.metrics import roc_auc_score

    from pipeline.explain import contributions

    model = bench.ctx.model
    rows = []
    for n in bench.scale.scoring:
        frame = bench.cohort(n)[model.features]
        seconds, _ = median_time(lambda f=frame: contributions(model, f), bench.scale.repeats)
        rows.append(
            {
                "explainer": f"SARA exact ({model.family})",
                "students": n,
                "rows_per_s": round(n / seconds),
            }
        )
        bench.progress(f"explanations {n:,}: {n / seconds:,.0f} rows/s")
    split = bench.split()
    train = np.asarray(model.encode(split.train), dtype=float)
    test = np.asarray(model.encode(split.test), dtype=float)
    champion_auc = roc_auc_score(split.y_test, model.predict_proba(split.test)[:, 1])
    sample = np.asarray(
        model.encode(bench.cohort(bench.scale.scoring[0])[model.features]), dtype=float
    )[: bench.scale.tree_rows]
    for trees, depth in ((400, 6), (200, 4)):
        booster = xgb.XGBClassifier(
            n_estimators=trees, max_depth=depth, learning_rate=0.05, n_jobs=2, random_state=0
        ).fit(train, split.y_train)
        explainer = shap.TreeExplainer(booster)
        seconds, _ = median_time(lambda e=explainer: e.shap_values(sample), bench.scale.repeats)
        auc = roc_auc_score(split.y_test, booster.predict_proba(test)[:, 1])
        rows.append(
            {
                "explainer": f"TreeExplainer, XGBoost {trees} trees depth {depth}",
                "students": len(sample),
                "rows_per_s": round(len(sample) / seconds),
                "roc_auc": round(float(auc), 4),
            }
        )
        bench.progress(f"TreeExplainer {trees}x{depth}: {len(sample) / seconds:,.0f} rows/s")
    baseline = next(r["rows_per_s"] for r in rows if "400" in r["explainer"])
    sara = rows[len(bench.scale.scoring) - 1]["rows_per_s"]
    return {
        "rows": rows,
        "champion_roc_auc": round(float(champion_auc), 4),
        "ratio_vs_400x6": round(sara / baseline, 1),
    }


def single(bench: Bench) -> dict:
    """One student's explanation: by id (a warehouse lookup) and a new record (computed),
    beside TreeExplainer on one row."""
    import shap
    import xgboost as xgb

    from tools.explain import ExplainInput, explain_student

    ctx = bench.ctx
    ids = ctx.sql("SELECT student_id FROM scores USING SAMPLE 200 ROWS")["student_id"].tolist()
    records = ctx.sql(f"SELECT * FROM students USING SAMPLE {len(ids)} ROWS")
    records = json.loads(records[list(ctx.model.features)].to_json(orient="records"))
    calls = bench.scale.single_calls

    def timed(fn: Callable[[int], Any]) -> dict:
        fn(0)  # warm-up
        samples = []
        for i in range(calls):
            started = time.perf_counter()
            fn(i)
            samples.append(time.perf_counter() - started)
        return percentiles(samples)

    known = timed(lambda i: explain_student(ExplainInput(student_id=ids[i % len(ids)]), ctx))
    new = timed(lambda i: explain_student(ExplainInput(record=records[i % len(records)]), ctx))
    model = ctx.model
    train = ctx.sql(f"SELECT * FROM students USING SAMPLE {min(20_000, bench.scale.pipeline)} ROWS")
    encoded = np.asarray(model.encode(train[model.features]), dtype=float)
    booster = xgb.XGBClassifier(n_estimators=400, max_depth=6, n_jobs=2, random_state=0).fit(
        encoded, (train[ctx.spec.outcome.name].to_numpy() > 0).astype(int)
    )
    explainer = shap.TreeExplainer(booster)
    tree = timed(lambda i: explainer.shap_values(encoded[i % len(encoded)][None, :]))
    bench.progress(
        f"single: known {known['p50_ms']} ms, new {new['p50_ms']} ms, "
        f"TreeExplainer {tree['p50_ms']} ms"
    )
    return {
        "calls": calls,
        "known_id": known,
        "new_record": new,
        "tree_explainer_400x6_one_row": tree,
    }
