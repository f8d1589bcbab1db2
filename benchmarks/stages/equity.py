"""Questions over the whole cohort: equity queries on DuckDB beside pandas, and the
intervention planner beside highest-risk-first."""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.stages.bench import Bench, median_time
from sara.settings import Settings


def equity(bench: Bench) -> dict:
    """Group-by and percentile queries on a DuckDB file of n students (SARA's equity
    path) beside the same with pandas on a DataFrame already in memory."""
    import duckdb

    from pipeline import warehouse
    from tools.context import ToolContext

    spec = bench.ctx.spec
    rows = []
    for n in bench.scale.equity:
        frame = bench.cohort(n)
        folder = bench.folder / f"equity-{n}"
        folder.mkdir(exist_ok=True)
        served = bench.ctx.settings  # the published risk thresholds
        settings = Settings(
            home=folder,
            risk_medium_threshold=served.risk_medium_threshold,
            risk_high_threshold=served.risk_high_threshold,
        )
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
                    np.where(frame["true_risk"] >= settings.risk_medium_threshold, "Medium", "Low"),
                ),
            }
        )
        with duckdb.connect(str(settings.warehouse_path)) as con:
            for name, table in (("students", students), ("scores", scores)):
                con.register("incoming", table)
                con.execute(f"CREATE TABLE {name} AS SELECT * FROM incoming")
                con.unregister("incoming")
            warehouse.add_scored(con, spec.id_column)  # the layout a publish writes
        ctx = ToolContext(settings, spec, bench.ctx.model, "bench", {}, "bench")
        try:
            rows += _equity_at(bench, n, ctx, students, scores)
        finally:
            ctx.close()
            settings.warehouse_path.unlink()
    return {
        "rows": rows,
        "note": "risk = the generator's true risk (the query cost does "
        "not depend on where the score came from); pandas times exclude loading",
    }


def _equity_at(bench: Bench, n, ctx, students, scores) -> list[dict]:
    from tools.equity import compute_equity

    joined = students.merge(scores, left_on=ctx.id_column, right_on="student_id")
    outcome = ctx.spec.outcome.name
    # Columns by their role in the spec (any the equity tool groups by): two protected
    # attributes, and context columns.
    groupable = [c.name for c in ctx.spec.columns if _groupable(ctx.spec, c.name)]
    protected = [n for n in groupable if ctx.spec.column(n).role.value == "protected"]
    context = [n for n in groupable if ctx.spec.column(n).role.value == "context"]
    first, second = protected[0], (protected[1:] or context)[0]
    ordered = next(n for n in context if ctx.spec.column(n).is_numeric and n != second)
    cases = [
        (
            f"outcome rate by {first}",
            lambda: compute_equity(ctx, "outcome_rate", [first], None),
            lambda: joined.groupby(first)[outcome].agg(["size", "count", "sum", "mean", "std"]),
        ),
        (
            f"mean risk by {ordered} × {second}",
            lambda: compute_equity(ctx, "mean_risk", [ordered, second], None),
            lambda: joined.groupby([ordered, second])["risk_score"].agg(
                ["size", "count", "sum", "mean", "std"]
            ),
        ),
        (
            f"risk percentiles (50/90/99) by {context[0]}",
            lambda: ctx.sql(
                f's."{context[0]}", quantile_cont(c.risk_score, [0.5, 0.9, 0.99]) '.join(
                    ["SELECT ", f'FROM {ctx.scored_source} GROUP BY s."{context[0]}"']
                )
            ),
            lambda: joined.groupby(context[0])["risk_score"].quantile([0.5, 0.9, 0.99]),
        ),
    ]
    out = []
    for name, sara_fn, pandas_fn in cases:
        sara_fn()  # warm-up: file pages, plan
        sara, _ = median_time(sara_fn, bench.scale.repeats)
        base, _ = median_time(pandas_fn, bench.scale.repeats)
        out.append(
            {
                "query": name,
                "students": n,
                "duckdb_s": round(sara, 3),
                "pandas_s": round(base, 3),
                "ratio": round(base / sara, 2),
            }
        )
        bench.progress(f"equity {n:,} {name}: {sara:.3f} s vs pandas {base:.3f} s")
    return out


def _groupable(spec, name: str) -> bool:
    from tools.equity import check_group_by
    from tools.errors import InvalidInput

    try:
        check_group_by(spec, [name])
    except InvalidInput:
        return False
    return True


def planner(bench: Bench) -> dict:
    from tools.planning import PlanInput, plan_interventions

    ctx = bench.ctx
    n = int(ctx.sql("SELECT count(*) FROM students").iloc[0, 0])
    request = PlanInput(all_students=True, budget=200 * n / 10)
    seconds, plan = median_time(lambda: plan_interventions(request, ctx), bench.scale.repeats)
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
    bench.progress(f"planner {n:,}: {seconds:.1f} s, gap {plan.optimality_gap}")
    return result
