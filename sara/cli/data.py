"""``sara data``: generate, inspect and validate student data."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from sara.cli.common import SpecOption, console, err, fail, load_spec
from sara.errors import UserError
from sara.settings import get_settings

app = typer.Typer(help="Generate, inspect and validate student data.", no_args_is_help=True)


@app.command("generate")
def data_generate(
    rows: Annotated[
        int | None,
        typer.Option(
            "--n", "--rows", min=1, help="Number of students (default SARA_GENERATE_ROWS)."
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Random seed (default SARA_GENERATE_SEED).")
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            help="realistic (causal model with known effects), seed-like (public data) or "
            "higher-ed (university module enrolments; spec data/specs/higher_ed.yaml)."
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output .parquet or .csv (default: the workspace cohort).")
    ] = None,
    do: Annotated[
        str | None,
        typer.Option(
            "--do", help="Counterfactual cohort: the same students with this intervention applied."
        ),
    ] = None,
    keep_existing: Annotated[
        bool, typer.Option(help="Do nothing when the output file already exists.")
    ] = False,
) -> None:
    """Generate a synthetic cohort (and its ground-truth sidecar)."""
    from data.synthetic.cohort import PROFILE_INTERVENTIONS, PROFILES, write_cohort

    current = get_settings()
    rows = rows or current.generate_rows
    seed = current.generate_seed if seed is None else seed
    profile = profile or current.generate_profile
    if profile not in PROFILES:
        raise fail(f"--profile {profile!r} is not a profile; choose one of: {', '.join(PROFILES)}")
    known = PROFILE_INTERVENTIONS[profile]
    if do is not None and do not in known:
        raise fail(
            f"--do {do!r} is not an intervention of the {profile} profile; "
            + (f"choose one of: {', '.join(known)}" if known else "it has no causal model")
        )
    if out is None:
        current.ensure_workspace()
        out = current.default_cohort_path
    if keep_existing and out.exists():
        console.print(f"{out} exists; keeping it (delete it to generate a new cohort)")
        return
    columns = [
        TextColumn("generating"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} rows"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("generate", total=rows)
        try:
            result = write_cohort(
                out,
                rows,
                seed,
                profile,
                do,
                on_progress=lambda done, _: progress.update(task, completed=done),
            )
        except (ValueError, OSError) as exc:
            raise fail(str(exc)) from None
    _print_generated(result)


def _print_generated(result) -> None:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from data.loaders import read_table
    from data.synthetic.cohort import PROFILE_SPECS

    spec = load_spec(PROFILE_SPECS.get(result.profile))
    outcome_columns = spec.outcome.columns
    if result.path.suffix == ".parquet":
        frame = pq.read_table(result.path, columns=outcome_columns).to_pandas()
    else:
        frame = read_table(result.path)[outcome_columns]
    truth = pq.read_table(result.truth_path, columns=["true_risk"])
    table = Table(
        title=f"Generated cohort ({result.profile}, seed {result.seed})", show_header=False
    )
    table.add_row("students", f"{result.rows:,}")
    table.add_row("time", f"{result.seconds:.1f} s ({result.rows / result.seconds:,.0f} rows/s)")
    table.add_row("cohort file", f"{result.path} ({result.path.stat().st_size / 1e6:.1f} MB)")
    table.add_row("ground truth", str(result.truth_path))
    if result.intervention:
        table.add_row("intervention", f"do({result.intervention}) applied to every student")
    table.add_row(
        f"{spec.outcome.name} ({spec.outcome.rule})", f"{spec.outcome.label(frame).mean():.1%}"
    )
    table.add_row("mean true risk", f"{pc.mean(truth['true_risk']).as_py():.1%}")
    console.print(table)


def _checked_catalogue(dataset_spec, path) -> str:
    """The dataset's intervention catalogue checked against the spec (the pipeline refuses a
    catalogue that does not fit, so validation says so first): one line for the summary."""
    from data.catalogue import CatalogueError, catalogue_text, parse_catalogue

    try:
        found = catalogue_text(dataset_spec, path)
        if found is None:
            return "none defined (intervention questions will say how to add a catalogue)"
        catalogue = parse_catalogue(dataset_spec, *found)
    except CatalogueError as exc:
        raise fail(str(exc)) from None
    names = ", ".join(iv.name for iv in catalogue.interventions)
    return f"{len(catalogue.interventions)} from {found[1]} ({names}); they fit the spec"


@app.command("validate")
def data_validate(
    path: Annotated[str, typer.Argument(help="CSV, Parquet, DuckDB file, or hf://owner/dataset.")],
    spec: SpecOption = None,
    table: Annotated[str | None, typer.Option(help="Table to read from a DuckDB file.")] = None,
    encoding: Annotated[
        str | None, typer.Option(help="CSV encoding (default: detect UTF-8).")
    ] = None,
    strict: Annotated[
        bool, typer.Option(help="Exit with code 2 when any row is quarantined.")
    ] = False,
) -> None:
    """Validate a student table against the spec; bad rows go to the workspace quarantine."""
    from data.ingest import ingest

    dataset_spec = load_spec(spec)
    current = get_settings()
    catalogue = _checked_catalogue(dataset_spec, current.interventions_path)
    started = time.perf_counter()
    try:
        with console.status(f"validating {path} against spec {dataset_spec.name!r}…"):
            report = ingest(
                path, dataset_spec, current.quarantine_dir, table=table, encoding=encoding
            )
    except UserError as exc:
        raise fail(str(exc)) from None
    seconds = time.perf_counter() - started
    summary = Table(title=f"Validation against spec {dataset_spec.name!r}", show_header=False)
    summary.add_row("source", str(path))
    summary.add_row("rows read", f"{report.n_rows:,}")
    summary.add_row("valid rows", f"{report.n_valid:,}")
    summary.add_row(
        "quarantined rows", f"{report.n_quarantined:,} ({report.share_quarantined:.2%})"
    )
    summary.add_row("ids assigned", f"{report.ids_assigned:,}")
    summary.add_row("interventions", catalogue)
    summary.add_row("time", f"{seconds:.1f} s")
    console.print(summary)
    if report.n_quarantined:
        by_rule = report.issues_by_rule()
        issues = Table(
            "column",
            "rule",
            "count",
            "e.g. row",
            "e.g. value",
            title=f"{len(report.issues):,} issues",
        )
        for row in by_rule.head(25).itertuples(index=False):
            issues.add_row(
                row.column,
                row.rule,
                f"{row.count:,}",
                str(row.example_row),
                repr(row.example_value),
            )
        console.print(issues)
        console.print(f"quarantine: {report.files['issues']}\n            {report.files['rows']}")
        if strict:
            raise typer.Exit(code=2)
    else:
        console.print("[green]every row passed every rule[/]")


@app.command("spec")
def data_spec(spec: SpecOption = None) -> None:
    """Show a dataset spec: columns, types, roles, outcome rule and feature sets."""
    dataset_spec = load_spec(spec)
    table = Table("column", "type", "role", "allowed", title=f"spec {dataset_spec.name!r}")
    for col in dataset_spec.columns:
        if col.categories:
            allowed = ", ".join(col.categories)
        elif col.min is not None or col.max is not None:
            low = "" if col.min is None else f"{col.min:g}"
            high = "" if col.max is None else f"{col.max:g}"
            allowed = f"{low} … {high}".strip()
        else:
            allowed = "0/1" if col.dtype == "bool" else ""
        table.add_row(col.name, col.dtype, col.role.value, allowed)
    console.print(table)
    console.print(f"outcome [bold]{dataset_spec.outcome.name}[/]: {dataset_spec.outcome.rule}")
    for name, features in dataset_spec.feature_sets.items():
        console.print(f"feature set [bold]{name}[/] ({len(features)}): {', '.join(features)}")
