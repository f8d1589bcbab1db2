"""Comparing interventions from the terms stored at publish beside computing every term on
request (the model on the cohort's rows, the outcome models refitted): the same answer, to
rounding error, at two very different costs."""

from __future__ import annotations

from benchmarks.stages.bench import Bench, median_time


def interventions(bench: Bench) -> dict:
    from tools.interventions import CompareInput, request_changes, stored_changes

    ctx = bench.ctx
    chosen = ctx.pick_interventions(None)
    one = ctx.sql("SELECT student_id FROM scores ORDER BY risk_score DESC LIMIT 1").iloc[0, 0]
    cases = {
        "one student": CompareInput(student_ids=[one]),
        "the High cohort": CompareInput(filters={"risk_level": "High"}),
        "every student": CompareInput(all_students=True),
    }
    rows = []
    for name, selection in cases.items():
        stored_changes(selection, chosen, ctx)  # the first query reads the file
        stored_s, stored = median_time(
            lambda s=selection: stored_changes(s, chosen, ctx), bench.scale.repeats
        )
        # on request: one run for everyone (tens of seconds), the repeats for the rest
        repeats = 1 if selection.all_students else bench.scale.repeats
        request_s, fresh = median_time(lambda s=selection: request_changes(s, chosen, ctx), repeats)
        largest = max(
            abs(getattr(stored.changes[iv.name], f) - getattr(fresh.changes[iv.name], f))
            for iv in chosen
            for f in ("before", "after", "sd")
        )
        estimates = [
            abs(stored.changes[iv.name].evidence.change - fresh.changes[iv.name].evidence.change)
            for iv in chosen
            if fresh.changes[iv.name].evidence.change is not None
        ]
        rows.append(
            {
                "cohort": name,
                "students": stored.n,
                "stored_ms": round(stored_s * 1000, 1),
                "on_request_ms": round(request_s * 1000, 1),
                "ratio": round(request_s / stored_s, 1),
                "max_abs_diff": float(f"{max([largest, *estimates]):.2e}"),
                "on_request_runs": repeats,
            }
        )
        bench.progress(
            f"compare, {name}: {stored_s * 1000:.0f} ms stored, {request_s:.1f} s on request"
        )
    return {
        "students": int(ctx.sql("SELECT count(*) FROM scores").iloc[0, 0]),
        "interventions": len(chosen),
        "rows": rows,
    }
