"""The suite's report: the markdown tables of BENCHMARKS.md, the goals each run checks, and
the growth plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks import http


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
            ["students", "SARA rows/s", "sklearn pipeline on DataFrame rows/s", "ratio",
             "mlflow.pyfunc rows/s", "ratio vs pyfunc", "score + explain + phrases, s (1 run)"],
            [[r["students"], r["sara_rows_per_s"], r.get("pipeline_rows_per_s"), r["ratio"],
              r["pyfunc_rows_per_s"], r.get("ratio_vs_pyfunc"), r["score_and_explain_s"]]
             for r in s["scoring"]["rows"]],
        )  # fmt: skip
    if "explanations" in s:
        e = s["explanations"]
        out += [
            "## Full-cohort explanations (exact)",
            "",
            f"Champion test ROC-AUC {e['champion_roc_auc']}. End to end (encoding included):",
            "",
        ]
        out += _table(
            ["explainer", "students", "rows/s"],
            [[r["explainer"], r["students"], r["rows_per_s"]] for r in e["rows"]],
        )
        if e.get("same_model"):
            out += [
                "On the same encoded rows and the same model: SARA's compiled TreeSHAP, shap's "
                "TreeExplainer and XGBoost's `pred_contribs` (largest difference from it).",
                "",
            ]
            out += _table(
                ["model", "SARA rows/s", "TreeExplainer rows/s", "ratio", "pred_contribs rows/s",
                 "max abs diff", "ROC-AUC"],
                [[r["model"], r["sara_rows_per_s"], r["tree_explainer_rows_per_s"], r["ratio"],
                  r.get("pred_contribs_rows_per_s"), r.get("max_abs_diff"), r.get("roc_auc")]
                 for r in e["same_model"]],
            )  # fmt: skip
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
    if "interventions" in s:
        iv = s["interventions"]
        out += [
            f"## Comparing interventions, {iv['students']:,} students, {iv['interventions']} "
            "interventions",
            "",
            "From the terms stored at publish (one aggregation) beside every term computed on "
            "request (the model on the cohort's rows, the outcome models and placebos refitted "
            "on every student); the largest difference between the two answers' unrounded "
            "figures is shown.",
            "",
        ]
        out += _table(
            ["cohort", "students", "stored ms", "on request ms", "on request / stored",
             "largest difference"],
            [
                [r["cohort"], r["students"], r["stored_ms"], r["on_request_ms"], r["ratio"],
                 r["max_abs_diff"]]
                for r in iv["rows"]
            ],
        )  # fmt: skip
        steps = s.get("pipeline", {}).get("steps", {})
        if "intervention what-ifs" in steps:
            out += ["", f"Computing the terms at publish: {steps['intervention what-ifs']} s."]
    if "startup" in s:
        st = s["startup"]
        out += [
            f"## Start-up, {st['students']:,} students",
            "",
            "Wall time from the shell to exit (the server: to its first ready answer), median of "
            f"{st['repeats']} after one run that warms the file cache; the interpreter and the "
            "libraries a served model needs are measured in the same run.",
            "",
        ]
        out += _table(["command", "seconds"], [[r["command"], r["seconds"]] for r in st["rows"]])
    return "\n".join(out)


def goals(s: dict) -> list[tuple[str, str, bool]]:
    """Each goal the suite measures: (goal, what was measured, met?)."""
    out = []
    if (e := s.get("explanations")) and e.get("same_model"):
        diffs = [r["max_abs_diff"] for r in e["same_model"] if "max_abs_diff" in r]
        out.append(
            (
                "exact explanations ≥ 50× TreeExplainer on the same model (the champion and "
                "XGBoost at every grid depth and 400 × depth 6), equal to `pred_contribs` "
                "within 1e-5",
                f"{e['slowest_ratio']}× at the slowest (champion {e['ratio_same_model']}×); "
                f"largest difference {max(diffs):.1e}",
                e["slowest_ratio"] >= 50 and max(diffs) <= 1e-5,
            )
        )
    if "scoring" in s:
        last = s["scoring"]["rows"][-1]
        out.append(
            (
                "batch scoring ≥ 1.7× the scikit-learn pipeline on a DataFrame (the booster's "
                "own speed on encoded rows is ~1.8–2.2× it on this machine)",
                f"{last['ratio']}× at {last['students']:,}",
                last["ratio"] >= 1.7,
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
            at16 = {x["scenario"]: x["rps"] for x in s["http"]["load"] if x["concurrency"] == 16}
            health, bare = at16.get(http.HEALTH), at16.get(http.BARE)
            if health:
                out.append(
                    (
                        "a student's risk over HTTP ≥ 0.7× `/health` (concurrency 16)",
                        f"{r['rps'] / health:.2f}× ({r['rps']:,.0f} vs {health:,.0f} req/s)"
                        + (
                            f"; `/health` is {health / bare:.2f}× a bare FastAPI route"
                            if bare
                            else ""
                        ),
                        r["rps"] / health >= 0.7,
                    )
                )
    if "chat" in s:
        p95 = s["chat"]["latency_p95_ms"]
        out.append(("offline chat p95 < 150 ms", f"{p95} ms", p95 < 150))
    if "equity" in s:
        largest = max(r["students"] for r in s["equity"]["rows"])
        at = [r for r in s["equity"]["rows"] if r["students"] == largest]
        worst = max(r["duckdb_s"] for r in at)
        ratio = min(r["ratio"] for r in at)
        out.append(
            (
                f"equity queries over {largest:,} students < 0.5 s and ≥ 3× pandas on a frame "
                "already in memory",
                f"slowest {worst} s; {ratio}× pandas at the least",
                worst < 0.5 and ratio >= 3,
            )
        )
    if "interventions" in s:
        rows = s["interventions"]["rows"]
        worst = max(r["max_abs_diff"] for r in rows)
        out.append(
            (
                "comparing interventions from stored terms equals computing them on request "
                "(to 1e-9)",
                f"largest difference {worst:.1e}; {min(r['ratio'] for r in rows)}–"
                f"{max(r['ratio'] for r in rows)}× faster",
                worst <= 1e-9,
            )
        )
    if "startup" in s:
        took = {r["command"]: r["seconds"] for r in s["startup"]["rows"]}
        for goal, command, limit in (
            ("`sara keys list` < 1 s", "sara keys list", 1),
            ("one `sara chat` question < 3 s wall", "sara chat, one question", 3),
            ("the app ready < 5 s after start", "sara serve, ready (one worker)", 5),
        ):
            out.append((goal, f"{took[command]} s", took[command] < limit))
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
