"""``sara pipeline``: train, evaluate, register and publish the risk model."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from sara.cli.common import SpecOption, console, fail
from sara.errors import UserError
from sara.settings import get_settings

app = typer.Typer(
    help="Train, evaluate, register and publish the risk model.", no_args_is_help=True
)


@app.command("run")
def pipeline_run(
    data: Annotated[
        Path | None,
        typer.Option(
            help="CSV/Parquet/DuckDB input (default: the workspace cohort, generated if absent)."
        ),
    ] = None,
    generate: Annotated[
        int | None,
        typer.Option(min=100, help="Generate a fresh cohort of this many students first."),
    ] = None,
    spec: SpecOption = None,
    feature_set: Annotated[
        str | None, typer.Option(help="early (no test scores) or full (default SARA_FEATURE_SET).")
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(help="Text encoding of a CSV --data file (default: detected)."),
    ] = None,
) -> None:
    """Run the pipeline end to end and publish the warehouse."""
    from pipeline.faults import disk_full
    from pipeline.run import run_pipeline

    if data is not None and generate is not None:
        raise fail("give either --data or --generate, not both")
    started = time.perf_counter()

    def progress(message: str) -> None:
        console.print(f"[dim]{time.perf_counter() - started:6.1f}s[/] {message}", highlight=False)

    try:
        result = run_pipeline(
            get_settings(),
            data=data,
            generate=generate,
            spec_path=spec,
            feature_set=feature_set,
            progress=progress,
            encoding=encoding,
        )
    except UserError as exc:
        raise fail(str(exc)) from None
    except Exception as exc:
        full = disk_full(exc, get_settings().home)
        if full is None:
            raise
        raise fail(full) from None
    table = Table(title=f"Pipeline: {result.status}", show_header=False)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row(
        "model", f"{get_settings().model_name} v{result.model_version} ({result.candidate})"
    )
    table.add_row("why", result.reason)
    for name in ("roc_auc", "pr_auc", "brier"):
        if name in result.metrics:
            table.add_row(f"test {name}", f"{result.metrics[name]:.4f}")
    table.add_row("students", f"{result.rows:,} ({result.quarantined:,} quarantined)")
    if result.report_path:
        table.add_row("report", str(result.report_path))
    table.add_row("warehouse", str(result.warehouse_path))
    table.add_row("total time", f"{time.perf_counter() - started:.1f} s")
    console.print(table)


GATE_STATUS_WORDS = {
    "checked_pass": "checked, within the limits",
    "checked_fail": "checked, OUTSIDE the limits",
    "not_checked": "NOT CHECKED",
}


def fairness_rows(record: str | None) -> list[tuple[str, str]]:
    """Status rows for the served model's fairness gate (from the warehouse metadata): the
    verdict, each protected attribute's status with its group sizes, and the fallback taken
    when no candidate met the limits."""
    if not record:
        return [("fairness gate", "not recorded in this warehouse (built by an older SARA)")]
    from pipeline.fairness_gate import group_sizes

    gate = json.loads(record)
    rows = [("fairness gate", gate.get("summary", gate.get("verdict", "?")))]
    for attribute in gate.get("attributes", []):
        sizes = group_sizes(attribute.get("groups", []))
        notes = "; ".join(c["note"] for c in attribute.get("checks", []))
        status = GATE_STATUS_WORDS.get(attribute["status"], attribute["status"])
        rows.append((f"  {attribute['attribute']}", f"{status} ({sizes}): {notes}"))
    if gate.get("fallback", "none") != "none":
        rows.append(("fairness fallback", f"no candidate met the limits, {gate['fallback_words']}"))
    return rows


@app.command("status")
def pipeline_status() -> None:
    """Show the champion model, its metrics, its fairness gate, and when the warehouse was
    built."""
    from pipeline import registry, warehouse

    current = get_settings()
    meta = warehouse.read_meta(current.warehouse_path)
    client = registry.configure(current)
    champion = registry.champion_info(client, current.model_name)
    if champion is None and meta is None:
        raise fail("no model yet: run `sara pipeline run` first")
    table = Table(title="SARA pipeline status", show_header=False)
    if champion is not None:
        run = client.get_run(champion.run_id)
        table.add_row(
            "champion",
            f"{current.model_name} v{champion.version} "
            f"({champion.tags.get('candidate')}, {champion.tags.get('family')})",
        )
        for key in ("test_roc_auc", "test_pr_auc", "test_brier", "test_log_loss"):
            if key in run.data.metrics:
                table.add_row(key, f"{run.data.metrics[key]:.4f}")
    if meta is not None:
        table.add_row("warehouse", str(current.warehouse_path))
        table.add_row("built at", meta.get("built_at", "?"))
        table.add_row("serving", f"v{meta.get('model_version')} on {meta.get('rows')} students")
        table.add_row("spec", f"{meta.get('spec')} (version {meta.get('spec_hash', '?')})")
        if "outcome_base_rate" in meta:
            table.add_row(
                "risk levels",
                f"Medium from {meta.get('risk_medium_threshold')}, High from "
                f"{meta.get('risk_high_threshold')} (base rate "
                f"{float(meta['outcome_base_rate']):.1%})",
            )
        for name, value in fairness_rows(meta.get("fairness_gate")):
            table.add_row(name, value)
    else:
        table.add_row("warehouse", "not built yet: run `sara pipeline run`")
    console.print(table)
