"""`sara bench`: speed, cost and scale of every stage, each beside the baseline people would use
instead, measured in the same run (ratios hold on a noisy shared machine; absolute times do
not). Every figure is the median of ``repeats`` runs unless the table says "1 run".

Stages: generation, pipeline, quality, scoring, explanations, single explanation, http, chat,
equity, planner. ``--quick`` runs every stage at small sizes so the suite cannot rot (`make
test` does); the full run is `make bench`."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sara.settings import Settings

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Scale:
    generation: tuple[int, ...]
    pipeline: int
    scoring: tuple[int, ...]
    tree_rows: int
    single_calls: int
    equity: tuple[int, ...]
    chat_per_set: int | None
    http_seconds: float
    http_concurrency: tuple[int, ...]
    repeats: int


SCALES = {
    "quick": Scale(
        (5_000, 20_000), 3_000, (5_000, 20_000), 200, 30, (20_000, 50_000), 4, 2, (16,), 1,
    ),
    "full": Scale(
        (100_000, 1_000_000, 10_000_000), 100_000, (100_000, 1_000_000), 2_000, 300,
        (1_000_000, 10_000_000), None, 10, (16, 64), 3,
    ),
}  # fmt: skip
STAGES = (
    "generation", "pipeline", "quality", "scoring", "explanations", "single", "http", "chat",
    "equity", "planner",
)  # fmt: skip


def median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median seconds of ``repeats`` calls (after none: callers warm up where it matters)."""
    times, value = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), value


def percentiles(samples: list[float]) -> dict[str, float]:
    values = np.asarray(samples) * 1000
    return {
        "p50_ms": round(float(np.percentile(values, 50)), 3),
        "p95_ms": round(float(np.percentile(values, 95)), 3),
        "p99_ms": round(float(np.percentile(values, 99)), 3),
    }


class Bench:
    """One run of the suite: a workspace built by the real pipeline, shared by the stages."""

    def __init__(self, scale: Scale, folder: Path, progress: Progress):
        self.scale, self.folder, self.progress = scale, folder, progress
        self.settings = Settings(home=folder / "ws")
        self._ctx = None
        self._frames: dict[int, pd.DataFrame] = {}

    @property
    def ctx(self):
        if self._ctx is None:
            from tools.context import load_context

            self._ctx = load_context(self.settings)
        return self._ctx

    def close(self) -> None:
        if self._ctx is not None:
            self._ctx.close()

    def cohort(self, rows: int) -> pd.DataFrame:
        """A generated cohort of ``rows`` students (another seed than the training one)."""
        if rows not in self._frames:
            from data.synthetic.cohort import generate_frame

            frame, truth = generate_frame(rows, seed=101)
            frame["true_risk"] = truth["true_risk"].to_numpy()
            self._frames = {rows: frame}  # keep one size in memory at a time
        return self._frames[rows]

    def split(self):
        """The pipeline's own train/test split of the workspace cohort (same seed)."""
        from pipeline.steps import read_step, split_step, validate_step

        source, spec = self.settings.default_cohort_path, self.ctx.spec
        dataset = validate_step(read_step(source, spec), source, spec, self.settings)
        return split_step(dataset, self.settings)

    # --- stages ---------------------------------------------------------------------------
    def generation(self) -> dict:
        """`sara data generate` in a fresh process per size: seconds and peak RSS."""
        rows = []
        for n in self.scale.generation:
            runs = [self._generate(n) for _ in range(self.scale.repeats)]
            seconds = statistics.median(r["seconds"] for r in runs)
            rows.append(
                {
                    "students": n,
                    "seconds": round(seconds, 2),
                    "us_per_row": round(seconds / n * 1e6, 3),
                    "peak_rss_gb": round(max(r["peak_rss_kb"] for r in runs) / 1024**2, 2),
                }
            )
            self.progress(f"generation {n:,}: {seconds:.1f} s")
        return {"rows": rows}

    def _generate(self, n: int) -> dict:
        out = self.folder / f"gen-{n}.parquet"
        code = (
            "import json, resource, sys, time\n"
            "from data.synthetic.cohort import write_cohort\n"
            "t = time.perf_counter()\n"
            f"write_cohort({str(out)!r}, {n}, 7)\n"
            "print(json.dumps({'seconds': time.perf_counter() - t,\n"
            "  'peak_rss_kb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        for path in self.folder.glob(f"gen-{n}*"):
            path.unlink()
        return json.loads(done.stdout.strip().splitlines()[-1])

    def pipeline(self) -> dict:
        from pipeline.run import run_pipeline

        started = time.perf_counter()
        result = run_pipeline(self.settings, generate=self.scale.pipeline, progress=lambda _: None)
        total = time.perf_counter() - started
        self.progress(f"pipeline {self.scale.pipeline:,}: {total:.0f} s ({result.candidate})")
        return {
            "students": self.scale.pipeline,
            "seconds": round(total, 1),
            "steps": {k: round(v, 2) for k, v in result.timings.items()},
            "champion": result.candidate,
            "runs": 1,
        }

    def quality(self) -> dict:
        """The champion on the held-out test set beside the oracle, the attendance rule and the
        seed's approach (logistic regression on label-encoded columns)."""
        from sklearn.linear_model import LogisticRegression

        from pipeline.evaluate import evaluate

        metrics = self.ctx.sql("SELECT model, metric, value FROM model_metrics")
        table = metrics.pivot(index="model", columns="metric", values="value")
        rows = [
            {
                "model": name,
                **{m: round(float(table.loc[name, m]), 4) for m in ("roc_auc", "pr_auc", "brier")},
            }
            for name in table.index
        ]
        split = self.split()
        features = list(self.ctx.model.features)

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
        ev = evaluate("seed", split.y_test, score, None, self.settings.risk_high_threshold, 20)
        rows.append(
            {
                "model": "seed approach (logistic regression, label-encoded)",
                **{m: round(ev.metrics[m], 4) for m in ("roc_auc", "pr_auc", "brier")},
            }
        )
        self.progress("quality: " + ", ".join(f"{r['model']} {r['roc_auc']}" for r in rows))
        return {"rows": rows, "test_students": len(split.y_test)}

    def scoring(self) -> dict:
        """SARA's scorer (encode once, the model's own predict) vs `mlflow.pyfunc` on a
        DataFrame; and scoring plus exact explanations plus phrases, as publishing does."""
        import mlflow.pyfunc

        from pipeline import registry
        from pipeline.steps import score_step

        model = self.ctx.model
        registry.configure(self.settings)
        pyfunc = mlflow.pyfunc.load_model(f"models:/{self.settings.model_name}@champion")
        rows = []
        for n in self.scale.scoring:
            frame = self.cohort(n)[model.features]
            sara, risk = median_time(
                lambda f=frame: model.predict_proba(f)[:, 1], self.scale.repeats
            )
            base, probabilities = median_time(lambda f=frame: pyfunc.predict(f), self.scale.repeats)
            assert np.allclose(np.asarray(probabilities)[:, 1], risk)
            explained, _ = median_time(
                lambda f=frame: score_step(model, f, self.ctx.spec, self.settings), 1
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
            self.progress(f"scoring {n:,}: {n / sara:,.0f} rows/s vs pyfunc {n / base:,.0f}")
        return {"rows": rows, "family": model.family}

    def explanations(self) -> dict:
        """Exact contributions of the champion over whole cohorts, beside TreeExplainer on
        XGBoost models of the sizes people default to, trained on the same data."""
        import shap
        import xgboost as xgb
        from sklearn.metrics import roc_auc_score

        from pipeline.explain import contributions

        model = self.ctx.model
        rows = []
        for n in self.scale.scoring:
            frame = self.cohort(n)[model.features]
            seconds, _ = median_time(lambda f=frame: contributions(model, f), self.scale.repeats)
            rows.append(
                {
                    "explainer": f"SARA exact ({model.family})",
                    "students": n,
                    "rows_per_s": round(n / seconds),
                }
            )
            self.progress(f"explanations {n:,}: {n / seconds:,.0f} rows/s")
        split = self.split()
        train = np.asarray(model.encode(split.train), dtype=float)
        test = np.asarray(model.encode(split.test), dtype=float)
        champion_auc = roc_auc_score(split.y_test, model.predict_proba(split.test)[:, 1])
        sample = np.asarray(
            model.encode(self.cohort(self.scale.scoring[0])[model.features]), dtype=float
        )[: self.scale.tree_rows]
        for trees, depth in ((400, 6), (200, 4)):
            booster = xgb.XGBClassifier(
                n_estimators=trees, max_depth=depth, learning_rate=0.05, n_jobs=2, random_state=0
            ).fit(train, split.y_train)
            explainer = shap.TreeExplainer(booster)
            seconds, _ = median_time(lambda e=explainer: e.shap_values(sample), self.scale.repeats)
            auc = roc_auc_score(split.y_test, booster.predict_proba(test)[:, 1])
            rows.append(
                {
                    "explainer": f"TreeExplainer, XGBoost {trees} trees depth {depth}",
                    "students": len(sample),
                    "rows_per_s": round(len(sample) / seconds),
                    "roc_auc": round(float(auc), 4),
                }
            )
            self.progress(f"TreeExplainer {trees}x{depth}: {len(sample) / seconds:,.0f} rows/s")
        baseline = next(r["rows_per_s"] for r in rows if "400" in r["explainer"])
        sara = rows[len(self.scale.scoring) - 1]["rows_per_s"]
        return {
            "rows": rows,
            "champion_roc_auc": round(float(champion_auc), 4),
            "ratio_vs_400x6": round(sara / baseline, 1),
        }

    def single(self) -> dict:
        """One student's explanation: by id (a warehouse lookup) and a new record (computed),
        beside TreeExplainer on one row."""
        import shap
        import xgboost as xgb

        from tools.explain import ExplainInput, explain_student

        ctx = self.ctx
        ids = ctx.sql("SELECT student_id FROM scores USING SAMPLE 200 ROWS")["student_id"].tolist()
        records = ctx.sql(f"SELECT * FROM students USING SAMPLE {len(ids)} ROWS")
        records = json.loads(records[list(ctx.model.features)].to_json(orient="records"))
        calls = self.scale.single_calls

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
        train = ctx.sql(
            f"SELECT * FROM students USING SAMPLE {min(20_000, self.scale.pipeline)} ROWS"
        )
        encoded = np.asarray(model.encode(train[model.features]), dtype=float)
        booster = xgb.XGBClassifier(n_estimators=400, max_depth=6, n_jobs=2, random_state=0).fit(
            encoded, (train[ctx.spec.outcome.name].to_numpy() > 0).astype(int)
        )
        explainer = shap.TreeExplainer(booster)
        tree = timed(lambda i: explainer.shap_values(encoded[i % len(encoded)][None, :]))
        self.progress(
            f"single: known {known['p50_ms']} ms, new {new['p50_ms']} ms, "
            f"TreeExplainer {tree['p50_ms']} ms"
        )
        return {
            "calls": calls,
            "known_id": known,
            "new_record": new,
            "tree_explainer_400x6_one_row": tree,
        }

    def http(self) -> dict:
        import shutil

        from benchmarks import http

        if shutil.which("wrk") is None:
            return {"skipped": "wrk is not installed (apt-get install wrk)"}
        self.close()
        result = http.run(
            students=self.scale.pipeline,
            workers=2,
            concurrency=self.scale.http_concurrency,
            seconds=self.scale.http_seconds,
            repeats=self.scale.repeats,
            batch=min(20_000, self.scale.pipeline),
            home=self.settings.home,
            progress=self.progress,
        )
        return result

    def chat(self) -> dict:
        from evals.gold import load_sets
        from evals.harness import run_eval

        sets = load_sets()
        if self.scale.chat_per_set:
            sets = {name: items[: self.scale.chat_per_set] for name, items in sets.items()}
        report = run_eval(self.settings, self.ctx, sets)
        overall = report["overall"]
        keys = ("latency_p50_ms", "latency_p95_ms", "own_p50_ms", "own_p95_ms")
        figures = {k: overall.get(k) for k in keys}
        self.progress(f"chat: {figures}")
        return {"questions": sum(len(v) for v in sets.values()), **figures}

    def equity(self) -> dict:
        """Group-by and percentile queries on a DuckDB file of n students (SARA's equity
        path) beside the same with pandas on a DataFrame already in memory."""
        import duckdb

        from tools.context import ToolContext

        spec = self.ctx.spec
        rows = []
        for n in self.scale.equity:
            frame = self.cohort(n)
            folder = self.folder / f"equity-{n}"
            folder.mkdir(exist_ok=True)
            settings = Settings(home=folder)
            students = frame.drop(columns=["true_risk"]).assign(
                **{spec.outcome.name: spec.outcome.label(frame)}
            )
            scores = pd.DataFrame(
                {
                    "student_id": frame[spec.id_column].to_numpy(),
                    "risk_score": frame["true_risk"],
                    "risk_level": np.where(
                        frame["true_risk"] >= settings.risk_high_threshold,
                        "High",
                        np.where(
                            frame["true_risk"] >= settings.risk_medium_threshold, "Medium", "Low"
                        ),
                    ),
                }
            )
            with duckdb.connect(str(settings.warehouse_path)) as con:
                for name, table in (("students", students), ("scores", scores)):
                    con.register("incoming", table)
                    con.execute(f"CREATE TABLE {name} AS SELECT * FROM incoming")
                    con.unregister("incoming")
            ctx = ToolContext(settings, spec, self.ctx.model, "bench", {}, "bench")
            try:
                rows += self._equity_at(n, ctx, students, scores)
            finally:
                ctx.close()
                settings.warehouse_path.unlink()
        return {
            "rows": rows,
            "note": "risk = the generator's true risk (the query cost does "
            "not depend on where the score came from); pandas times exclude loading",
        }

    def _equity_at(self, n, ctx, students, scores) -> list[dict]:
        from tools.equity import compute_equity

        joined = students.merge(scores, left_on=ctx.id_column, right_on="student_id")
        outcome = ctx.spec.outcome.name
        cases = [
            (
                "outcome rate by Race",
                lambda: compute_equity(ctx, "outcome_rate", ["Race"], None),
                lambda: joined.groupby("Race")[outcome].agg(
                    ["size", "count", "sum", "mean", "std"]
                ),
            ),
            (
                "mean risk by SES quartile × gender",
                lambda: compute_equity(ctx, "mean_risk", ["SES_Quartile", "Gender"], None),
                lambda: joined.groupby(["SES_Quartile", "Gender"])["risk_score"].agg(
                    ["size", "count", "sum", "mean", "std"]
                ),
            ),
            (
                "risk percentiles (50/90/99) by Locale",
                lambda: ctx.sql(
                    "SELECT s.Locale, quantile_cont(c.risk_score, [0.5, 0.9, 0.99]) "
                    f'FROM students s JOIN scores c ON s."{ctx.id_column}" = '
                    "c.student_id GROUP BY s.Locale"
                ),
                lambda: joined.groupby("Locale")["risk_score"].quantile([0.5, 0.9, 0.99]),
            ),
        ]
        out = []
        for name, sara_fn, pandas_fn in cases:
            sara_fn()  # warm-up: file pages, plan
            sara, _ = median_time(sara_fn, self.scale.repeats)
            base, _ = median_time(pandas_fn, self.scale.repeats)
            out.append(
                {
                    "query": name,
                    "students": n,
                    "duckdb_s": round(sara, 3),
                    "pandas_s": round(base, 3),
                    "ratio": round(base / sara, 2),
                }
            )
            self.progress(f"equity {n:,} {name}: {sara:.3f} s vs pandas {base:.3f} s")
        return out

    def planner(self) -> dict:
        from tools.planning import PlanInput, plan_interventions

        ctx = self.ctx
        n = int(ctx.sql("SELECT count(*) FROM students").iloc[0, 0])
        request = PlanInput(all_students=True, budget=200 * n / 10)
        seconds, plan = median_time(lambda: plan_interventions(request, ctx), self.scale.repeats)
        result = {
            "students": n,
            "interventions": len(plan.by_intervention) or None,
            "budget": request.budget,
            "seconds": round(seconds, 2),
            "method": plan.method,
            "optimality_gap": plan.optimality_gap,
            "plan_expected_drop": plan.totals.model_dump(),
            "naive": plan.naive.model_dump(),
        }
        self.progress(f"planner {n:,}: {seconds:.1f} s, gap {plan.optimality_gap}")
        return result


def run(
    quick: bool = False,
    only: list[str] | None = None,
    progress: Progress = print,
    folder: Path | None = None,
) -> dict:
    scale = SCALES["quick" if quick else "full"]
    stages = [s for s in STAGES if not only or s in only]
    root = folder or Path(tempfile.mkdtemp(prefix="sara-bench-"))
    bench = Bench(scale, root, progress)
    results: dict[str, Any] = {"mode": "quick" if quick else "full", "stages": {}}
    try:
        needs_workspace = set(stages) - {"generation"}
        if needs_workspace and "pipeline" not in stages:
            stages.insert(0, "pipeline")
        for stage in stages:
            progress(f"— {stage}")
            started = time.perf_counter()
            try:
                results["stages"][stage] = getattr(bench, stage)()
            except Exception as exc:  # report the failure; the other stages still measure
                progress(f"{stage} failed: {type(exc).__name__}: {exc}")
                results["stages"][stage] = {"error": f"{type(exc).__name__}: {exc}"}
            results["stages"][stage]["stage_seconds"] = round(time.perf_counter() - started, 1)
    finally:
        bench.close()
    return results


# --- report ---------------------------------------------------------------------------------
def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "–" if value is None else str(value)


def markdown(results: dict) -> str:
    """The results as the markdown tables of BENCHMARKS.md."""
    failed = {k: v["error"] for k, v in results["stages"].items() if "error" in v}
    s = {k: v for k, v in results["stages"].items() if "error" not in v}
    quick = results["mode"] == "quick"
    runs = "one run of each" if quick else "medians of repeated runs unless marked"
    out = [f"Mode: {results['mode']}; {runs}.", ""]
    out += [f"**Stage {k} failed**: {v}" for k, v in failed.items()] + ([""] if failed else [])
    checks = goals(s)
    if checks:
        out += ["## Goals on this machine", ""]
        out += _table(
            ["goal", "measured", "met"], [[g, m, "yes" if ok else "**no**"] for g, m, ok in checks]
        )
    if "generation" in s:
        out += ["## Cohort generation (`sara data generate`, a fresh process per size)", ""]
        out += _table(
            ["students", "seconds", "µs per row", "peak RSS GB"],
            [
                [r["students"], r["seconds"], r["us_per_row"], r["peak_rss_gb"]]
                for r in s["generation"]["rows"]
            ],
        )
    if "pipeline" in s:
        p = s["pipeline"]
        out += [
            f"## Pipeline, {p['students']:,} students end to end (1 run)",
            "",
            f"Total **{p['seconds']} s**; champion `{p['champion']}`.",
            "",
        ]
        out += _table(["step", "seconds"], [[k, v] for k, v in p["steps"].items()])
    if "quality" in s:
        q = s["quality"]
        out += [f"## Model quality (held-out test set, {q['test_students']:,} students)", ""]
        out += _table(
            ["model", "ROC-AUC", "PR-AUC", "Brier"],
            [[r["model"], r["roc_auc"], r["pr_auc"], r["brier"]] for r in q["rows"]],
        )
    if "scoring" in s:
        out += [f"## Batch scoring (champion family: {s['scoring']['family']})", ""]
        out += _table(
            [
                "students",
                "SARA rows/s",
                "pyfunc on DataFrame rows/s",
                "ratio",
                "score + explain + phrases, s (1 run)",
            ],
            [
                [
                    r["students"],
                    r["sara_rows_per_s"],
                    r["pyfunc_rows_per_s"],
                    r["ratio"],
                    r["score_and_explain_s"],
                ]
                for r in s["scoring"]["rows"]
            ],
        )
    if "explanations" in s:
        e = s["explanations"]
        out += [
            "## Full-cohort explanations (exact)",
            "",
            f"Champion test ROC-AUC {e['champion_roc_auc']}; SARA vs TreeExplainer "
            f"(400 trees, depth 6): **{e['ratio_vs_400x6']}×** rows/s.",
            "",
        ]
        out += _table(
            ["explainer", "students", "rows/s", "ROC-AUC"],
            [[r["explainer"], r["students"], r["rows_per_s"], r.get("roc_auc")] for r in e["rows"]],
        )
    if "single" in s:
        g = s["single"]
        out += [f"## One student's explanation ({g['calls']} calls)", ""]
        out += _table(
            ["path", "p50 ms", "p99 ms"],
            [
                [
                    "`explain_student` by id",
                    g["known_id"]["p50_ms"],
                    g["known_id"]["p99_ms"],
                ],
                [
                    "`explain_student` for a new record",
                    g["new_record"]["p50_ms"],
                    g["new_record"]["p99_ms"],
                ],
                [
                    "TreeExplainer, 400 trees depth 6, one row",
                    g["tree_explainer_400x6_one_row"]["p50_ms"],
                    g["tree_explainer_400x6_one_row"]["p99_ms"],
                ],
            ],
        )
    if "http" in s:
        out += ["## HTTP", ""]
        if "skipped" in s["http"]:
            out += [f"Not measured: {s['http']['skipped']}.", ""]
        else:
            from benchmarks.http import markdown as http_markdown

            out += [http_markdown(s["http"]), ""]
    if "chat" in s:
        c = s["chat"]
        out += [
            f"## Chat (offline), {c['questions']} gold questions",
            "",
            f"End to end p50 {c['latency_p50_ms']} ms, p95 {c['latency_p95_ms']} ms; "
            f"the assistant's own time (tools excluded) p50 {c['own_p50_ms']} ms, "
            f"p95 {c['own_p95_ms']} ms.",
            "",
        ]
    if "equity" in s:
        out += [
            "## Equity queries (DuckDB file vs pandas in memory)",
            "",
            s["equity"]["note"] + ".",
            "",
        ]
        out += _table(
            ["query", "students", "DuckDB s", "pandas s", "pandas / DuckDB"],
            [
                [r["query"], r["students"], r["duckdb_s"], r["pandas_s"], r["ratio"]]
                for r in s["equity"]["rows"]
            ],
        )
    if "planner" in s:
        p = s["planner"]
        plan, naive = p["plan_expected_drop"], p["naive"]
        out += [
            f"## Planner, {p['students']:,} students, budget ${p['budget']:,.0f}",
            "",
            f"{p['seconds']} s, method {p['method']}, optimality gap {p['optimality_gap']}.",
            "",
        ]
        keys = [k for k in plan if isinstance(plan[k], int | float)]
        out += _table(
            ["plan", *keys],
            [["SARA", *[plan[k] for k in keys]], ["highest risk first", *[naive[k] for k in keys]]],
        )
    return "\n".join(out)


def goals(s: dict) -> list[tuple[str, str, bool]]:
    """Each goal the suite measures: (goal, what was measured, met?)."""
    out = []
    if "explanations" in s:
        e = s["explanations"]
        tree = next(r for r in e["rows"] if "400 trees" in r["explainer"])
        out.append(
            (
                "full-cohort exact explanations ≥ 50× TreeExplainer (400 trees, depth 6), equal or "
                "better ROC-AUC",
                f"{e['ratio_vs_400x6']}×; ROC-AUC {e['champion_roc_auc']} vs {tree['roc_auc']}",
                e["ratio_vs_400x6"] >= 50 and e["champion_roc_auc"] >= tree["roc_auc"],
            )
        )
    if "scoring" in s:
        last = s["scoring"]["rows"][-1]
        out.append(
            (
                "batch scoring ≥ 5× pyfunc on a DataFrame",
                f"{last['ratio']}× at {last['students']:,}",
                last["ratio"] >= 5,
            )
        )
        million = [r for r in s["scoring"]["rows"] if r["students"] >= 1_000_000]
        if million:
            out.append(
                (
                    "1M students scored and explained in under a minute",
                    f"{million[0]['score_and_explain_s']} s",
                    million[0]["score_and_explain_s"] < 60,
                )
            )
    if "http" in s and "load" in s["http"]:
        single = [
            r
            for r in s["http"]["load"]
            if r["scenario"].startswith("GET /v1/students") and r["concurrency"] == 16
        ]
        if single:
            r = single[0]
            out.append(
                (
                    "single score over HTTP ≥ 1,000 req/s, p99 < 25 ms (concurrency 16)",
                    f"{r['rps']:,.0f} req/s, p99 {r['p99_ms']} ms",
                    r["rps"] >= 1000 and r["p99_ms"] < 25,
                )
            )
    if "chat" in s:
        p95 = s["chat"]["latency_p95_ms"]
        out.append(("offline chat p95 < 150 ms", f"{p95} ms", p95 < 150))
    if "equity" in s:
        largest = max(r["students"] for r in s["equity"]["rows"])
        worst = max(r["duckdb_s"] for r in s["equity"]["rows"] if r["students"] == largest)
        out.append(
            (f"equity queries over {largest:,} students < 1 s", f"slowest {worst} s", worst < 1)
        )
    if "pipeline" in s:
        out.append(
            (
                f"pipeline on {s['pipeline']['students']:,} students < 2 min",
                f"{s['pipeline']['seconds']} s",
                s["pipeline"]["seconds"] < 120,
            )
        )
    if "generation" in s and len(s["generation"]["rows"]) > 1:
        rows = s["generation"]["rows"]
        growth = rows[-1]["us_per_row"] / rows[0]["us_per_row"]
        out.append(
            (
                "generation linear in students (time per row flat, ≤ 1.5× growth)",
                f"{rows[0]['us_per_row']} → {rows[-1]['us_per_row']} µs/row "
                f"({rows[0]['students']:,} → {rows[-1]['students']:,})",
                growth <= 1.5,
            )
        )
    if "scoring" in s and len(s["scoring"]["rows"]) > 1:
        rows = s["scoring"]["rows"]
        per_row = [r["score_and_explain_s"] / r["students"] * 1e6 for r in rows]
        out.append(
            (
                "scoring + explaining linear in students (≤ 1.5× growth per row)",
                f"{per_row[0]:.1f} → {per_row[-1]:.1f} µs/row",
                per_row[-1] / per_row[0] <= 1.5,
            )
        )
    return out


def plot_growth(results: dict, path: Path) -> Path | None:
    """Seconds against students (log-log) for the stages measured at several sizes; a
    straight line of slope 1 is linear growth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = results["stages"]
    series = {}
    if "generation" in s:
        series["generation"] = [(r["students"], r["seconds"]) for r in s["generation"]["rows"]]
    if "scoring" in s:
        series["score + explain + phrases"] = [
            (r["students"], r["score_and_explain_s"]) for r in s["scoring"]["rows"]
        ]
        series["scoring only"] = [
            (r["students"], r["students"] / r["sara_rows_per_s"]) for r in s["scoring"]["rows"]
        ]
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 4.2), dpi=110)
    for name, points in series.items():
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, marker="o", label=name)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="students",
        ylabel="seconds",
        title="Growth with cohort size (slope 1 = linear)",
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
