"""Scoring and explaining: batch scoring beside `mlflow.pyfunc`, full-cohort exact explanations
and one student's explanation beside TreeExplainer."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.stages.bench import Bench, median_time, percentiles


def scoring(bench: Bench) -> dict:
    """SARA's scorer (the compiled encoder into the model's own predict) beside the fitted
    scikit-learn pipeline on a DataFrame (preprocessor, then the estimator: what
    `mlflow.pyfunc` ran before the model encoded rows itself) and `mlflow.pyfunc` itself
    (which now runs the same model code, plus its own input handling); and scoring plus exact
    explanations plus phrases, as publishing does. Each repeat times all three back to back."""
    import mlflow.pyfunc

    from pipeline import registry
    from pipeline.steps import score_step

    model = bench.ctx.model
    registry.configure(bench.settings)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{bench.settings.model_name}@champion")

    def preprocessor_path(frame):
        raw = model.raw_from_encoded(model.encode_with_preprocessor(frame))
        return model.calibrator.transform(raw)

    rows = []
    for n in bench.scale.scoring:
        frame = bench.cohort(n)[model.features]
        runs = []
        for _ in range(bench.scale.repeats):
            sara, risk = median_time(lambda f=frame: model.predict_proba(f)[:, 1], 1)
            base, reference = median_time(lambda f=frame: preprocessor_path(f), 1)
            wrapped, probabilities = median_time(lambda f=frame: pyfunc.predict(f), 1)
            runs.append((sara, base, wrapped))
        assert np.allclose(reference, risk) and np.allclose(np.asarray(probabilities)[:, 1], risk)
        explained, _ = median_time(
            lambda f=frame: score_step(model, f, bench.ctx.spec, bench.ctx.settings), 1
        )
        sara = statistics.median(r[0] for r in runs)
        base = statistics.median(r[1] for r in runs)
        wrapped = statistics.median(r[2] for r in runs)
        rows.append(
            {
                "students": n,
                "sara_rows_per_s": round(n / sara),
                "pipeline_rows_per_s": round(n / base),
                "pyfunc_rows_per_s": round(n / wrapped),
                "ratio": round(statistics.median(r[1] / r[0] for r in runs), 2),
                "ratio_vs_pyfunc": round(statistics.median(r[2] / r[0] for r in runs), 2),
                "score_and_explain_s": round(explained, 2),
            }
        )
        bench.progress(
            f"scoring {n:,}: {n / sara:,.0f} rows/s vs the sklearn pipeline {n / base:,.0f} "
            f"and pyfunc {n / wrapped:,.0f}"
        )
    return {"rows": rows, "family": model.family}


def explanations(bench: Bench) -> dict:
    """Exact contributions over whole cohorts: the champion end to end (encoding included),
    then, on the same encoded rows, SARA's compiled TreeSHAP beside shap's TreeExplainer and
    XGBoost's ``pred_contribs`` on the same model, for the champion and for XGBoost models of
    every depth the training grid can choose plus the 400 × depth-6 size people default to
    (equal values: the largest difference from ``pred_contribs`` is reported)."""
    import shap
    import xgboost as xgb
    from sklearn.metrics import roc_auc_score

    from pipeline import treeshap
    from pipeline.explain import contributions
    from pipeline.train import CANDIDATES

    model = bench.ctx.model
    rows = []
    for n in bench.scale.scoring:
        frame = bench.cohort(n)[model.features]
        seconds, _ = median_time(lambda f=frame: contributions(model, f), bench.scale.repeats)
        rows.append(
            {
                "explainer": f"SARA exact, champion ({model.family}), encoding included",
                "students": n,
                "rows_per_s": round(n / seconds),
            }
        )
        bench.progress(f"explanations {n:,}: {n / seconds:,.0f} rows/s")
    split = bench.split()
    train = np.asarray(model.encode(split.train), dtype=float)
    test = np.asarray(model.encode(split.test), dtype=float)
    champion_auc = roc_auc_score(split.y_test, model.predict_proba(split.test)[:, 1])
    encoded = np.asarray(
        model.encode(bench.cohort(bench.scale.scoring[-1])[model.features]), dtype=float
    )
    sample = encoded[: bench.scale.tree_rows]
    identity = np.arange(encoded.shape[1])

    def versus(name: str, estimator, family: str) -> dict:
        forest = treeshap.compile_forest(estimator, family, identity, len(identity))
        forest.explain(sample)  # the kernels are compiled (or loaded from numba's cache) once
        explainer = shap.TreeExplainer(estimator)
        # Paired and interleaved: each repeat times both, back to back, so a busy spell on this
        # shared machine slows both sides of a pair; the ratio is the median of the pairs'.
        pairs, values = [], None
        for _ in range(bench.scale.repeats):
            sara, values = median_time(lambda: forest.explain(encoded), 1)
            tree, _ = median_time(lambda: explainer.shap_values(sample), 1)
            pairs.append((len(encoded) / sara, len(sample) / tree))
        row = {
            "model": name,
            "sara_rows_per_s": round(statistics.median(p[0] for p in pairs)),
            "tree_explainer_rows_per_s": round(statistics.median(p[1] for p in pairs)),
            "ratio": round(statistics.median(a / b for a, b in pairs), 1),
        }
        if family == "xgboost":
            booster = estimator.get_booster()
            contribs, reference = median_time(
                lambda: booster.predict(xgb.DMatrix(sample), pred_contribs=True),
                bench.scale.repeats,
            )
            row["pred_contribs_rows_per_s"] = round(len(sample) / contribs)
            row["max_abs_diff"] = float(np.abs(values[: len(sample)] - reference[:, :-1]).max())
        bench.progress(
            f"{name}: SARA {row['sara_rows_per_s']:,} rows/s, TreeExplainer "
            f"{row['tree_explainer_rows_per_s']:,} rows/s ({row['ratio']}×)"
        )
        return row

    same_model = (
        [versus(f"champion ({model.family})", model.pipeline[-1], model.family)]
        if (model.family in ("xgboost", "hist_gb"))
        else []
    )
    grid = [
        (p["n_estimators"], p["max_depth"], p["learning_rate"]) for p in CANDIDATES["xgboost"].grid
    ]
    for trees, depth, rate in sorted({*grid, (400, 6, 0.05)}, key=lambda t: t[1]):
        booster = xgb.XGBClassifier(
            n_estimators=trees, max_depth=depth, learning_rate=rate, n_jobs=2, random_state=0
        ).fit(train, split.y_train)
        auc = roc_auc_score(split.y_test, booster.predict_proba(test)[:, 1])
        same_model.append(
            {
                **versus(f"XGBoost {trees} trees depth {depth}", booster, "xgboost"),
                "roc_auc": round(float(auc), 4),
            }
        )
    return {
        "rows": rows,
        "same_model": same_model,
        "champion_roc_auc": round(float(champion_auc), 4),
        "ratio_same_model": same_model[0]["ratio"] if same_model else None,
        "slowest_ratio": min(r["ratio"] for r in same_model),
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
