"""The ``sara`` command line: thin wrappers over the library functions."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from sara.settings import get_settings

app = typer.Typer(
    help="SARA, the Student Academic Risk Assistant.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Generate, inspect and validate student data.", no_args_is_help=True)
app.add_typer(data_app, name="data")
console = Console()
err = Console(stderr=True)

SpecOption = Annotated[
    Path | None,
    typer.Option(
        "--spec", help="Dataset spec YAML (default: SARA_SPEC_PATH or the built-in spec)."
    ),
]


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=1)


def _spec(path: Path | None):
    from data.spec import SpecError, load_spec

    try:
        return load_spec(path or get_settings().spec_path)
    except SpecError as exc:
        raise _fail(str(exc)) from None


@app.callback()
def main() -> None:
    from sara.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)


@app.command()
def settings() -> None:
    """Show the effective settings (secrets masked) and the workspace paths."""
    current = get_settings()
    table = Table(title="SARA settings (env prefix SARA_)")
    table.add_column("setting")
    table.add_column("value", overflow="fold")
    for name, value in current.model_dump().items():
        table.add_row(name, "***" if "key" in name and value else str(value))
    for name in ("data_dir", "quarantine_dir", "warehouse_path", "tracking_uri"):
        table.add_row(name, str(getattr(current, name)))
    console.print(table)


@data_app.command("generate")
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
            help="realistic (causal model with known effects) or seed-like (public data)."
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
    from data.synthetic.cohort import PROFILES, write_cohort
    from data.synthetic.realistic import INTERVENTIONS

    current = get_settings()
    rows = rows or current.generate_rows
    seed = current.generate_seed if seed is None else seed
    profile = profile or current.generate_profile
    if profile not in PROFILES:
        raise _fail(f"--profile {profile!r} is not a profile; choose one of: {', '.join(PROFILES)}")
    if do is not None and do not in INTERVENTIONS:
        raise _fail(
            f"--do {do!r} is not an intervention; choose one of: {', '.join(INTERVENTIONS)}"
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
            raise _fail(str(exc)) from None
    _print_generated(result)


def _print_generated(result) -> None:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from data.loaders import read_table

    spec = _spec(None)
    outcome_columns = [c.column for c in spec.outcome.conditions]
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


@data_app.command("validate")
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
    from data.loaders import DataLoadError
    from data.validate import SchemaMismatchError

    dataset_spec = _spec(spec)
    current = get_settings()
    started = time.perf_counter()
    try:
        with console.status(f"validating {path} against spec {dataset_spec.name!r}…"):
            report = ingest(
                path, dataset_spec, current.quarantine_dir, table=table, encoding=encoding
            )
    except (DataLoadError, SchemaMismatchError) as exc:
        raise _fail(str(exc)) from None
    seconds = time.perf_counter() - started
    summary = Table(title=f"Validation against spec {dataset_spec.name!r}", show_header=False)
    summary.add_row("source", str(path))
    summary.add_row("rows read", f"{report.n_rows:,}")
    summary.add_row("valid rows", f"{report.n_valid:,}")
    summary.add_row(
        "quarantined rows", f"{report.n_quarantined:,} ({report.share_quarantined:.2%})"
    )
    summary.add_row("ids assigned", f"{report.ids_assigned:,}")
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


@data_app.command("spec")
def data_spec(spec: SpecOption = None) -> None:
    """Show a dataset spec: columns, types, roles, outcome rule and feature sets."""
    dataset_spec = _spec(spec)
    table = Table("column", "type", "role", "allowed", title=f"spec {dataset_spec.name!r}")
    for col in dataset_spec.columns:
        if col.categories:
            allowed = ", ".join(col.categories)
        elif col.min is not None or col.max is not None:
            allowed = f"{col.min:g} … {col.max:g}"
        else:
            allowed = "0/1" if col.dtype == "bool" else ""
        table.add_row(col.name, col.dtype, col.role.value, allowed)
    console.print(table)
    console.print(f"outcome [bold]{dataset_spec.outcome.name}[/]: {dataset_spec.outcome.rule}")
    for name, features in dataset_spec.feature_sets.items():
        console.print(f"feature set [bold]{name}[/] ({len(features)}): {', '.join(features)}")


pipeline_app = typer.Typer(
    help="Train, evaluate, register and publish the risk model.", no_args_is_help=True
)
app.add_typer(pipeline_app, name="pipeline")


@pipeline_app.command("run")
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
    from data.loaders import DataLoadError
    from data.spec import SpecError
    from data.validate import SchemaMismatchError
    from pipeline.faults import NotEnoughSpace, disk_full
    from pipeline.run import run_pipeline
    from pipeline.steps import DataQualityError
    from pipeline.warehouse import WarehouseUnavailable

    if data is not None and generate is not None:
        raise _fail("give either --data or --generate, not both")
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
    except (
        DataLoadError,
        SchemaMismatchError,
        SpecError,
        DataQualityError,
        WarehouseUnavailable,
        NotEnoughSpace,
    ) as exc:
        raise _fail(str(exc)) from None
    except Exception as exc:
        full = disk_full(exc, get_settings().home)
        if full is None:
            raise
        raise _fail(full) from None
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


@pipeline_app.command("status")
def pipeline_status() -> None:
    """Show the champion model, its metrics, and when the warehouse was built."""
    from pipeline import registry, warehouse

    current = get_settings()
    meta = warehouse.read_meta(current.warehouse_path)
    client = registry.configure(current)
    champion = registry.champion_info(client, current.model_name)
    if champion is None and meta is None:
        raise _fail("no model yet: run `sara pipeline run` first")
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
    else:
        table.add_row("warehouse", "not built yet: run `sara pipeline run`")
    console.print(table)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address (default SARA_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default SARA_PORT).")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes (default SARA_WORKERS).")
    ] = None,
) -> None:
    """Serve the API (and UI) with uvicorn."""
    import os
    import shutil

    import uvicorn

    current = get_settings()
    workers = workers or current.workers
    if workers > 1:
        # Worker processes share Prometheus metrics through files; stale ones would add up.
        shutil.rmtree(current.metrics_dir, ignore_errors=True)
        current.metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(current.metrics_dir.resolve())
    host, port = host or current.host, port or current.port
    console.print(f"SARA on http://{host}:{port}  (chat: /ui, API docs: /docs)", highlight=False)
    # No access log: request paths carry student ids, which stay out of logs.
    uvicorn.run(
        "api.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_level=current.log_level.lower(),
    )


@app.command()
def chat(
    question: Annotated[
        str | None, typer.Argument(help="Ask one question and exit (default: a conversation).")
    ] = None,
    backend: Annotated[
        str | None, typer.Option(help="offline or llm (default SARA_ASSISTANT_BACKEND).")
    ] = None,
    role: Annotated[
        str, typer.Option(help="Role the tools run with (the terminal is a local operator).")
    ] = "admin",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole answer as JSON.")
    ] = False,
) -> None:
    """Ask SARA in plain language, in the terminal (the same assistant as /v1/chat and /ui)."""
    from rich.markdown import Markdown

    from assistant import Assistant, ConversationState
    from tools.base import ROLES
    from tools.context import load_context
    from tools.errors import ToolError

    if backend not in (None, "offline", "llm"):
        raise _fail(f"--backend: {backend!r} is not one of offline, llm")
    if role not in ROLES:
        raise _fail(f"--role: {role!r} is not one of {', '.join(ROLES)}")
    settings = get_settings()
    logging.getLogger("assistant").setLevel(logging.WARNING)  # the answer is the output here
    try:
        ctx = load_context(settings)
    except ToolError as exc:
        raise _fail(exc.message) from None
    sara = Assistant(settings, lambda: ctx)
    state = ConversationState()

    def answer(text: str) -> None:
        nonlocal state
        try:
            reply = sara.ask(text, state, role=role, backend=backend)
        except ToolError as exc:
            err.print(f"[red]{exc.message}[/]", highlight=False)
            return
        state = reply.state
        if as_json:
            console.print_json(reply.model_dump_json())
            return
        console.print(Markdown(reply.text))
        if reply.fallback_reason:
            console.print(f"[yellow]answered offline: {reply.fallback_reason}[/]", highlight=False)
        if reply.tool_calls:
            used = ", ".join(f"{c.name}({json.dumps(c.arguments)})" for c in reply.tool_calls)
            console.print(f"[dim]tools: {used}[/]", highlight=False)
        if reply.follow_ups:
            console.print("[dim]try: " + " · ".join(reply.follow_ups) + "[/]", highlight=False)

    if question is not None:
        answer(question)
        return
    console.print("SARA: ask about student risk; 'exit' to leave.", highlight=False)
    while True:
        try:
            text = console.input("[bold]you> [/]").strip()
        except (EOFError, KeyboardInterrupt):
            break
        if text.lower() in ("exit", "quit", ":q"):
            break
        if text:
            answer(text)


@app.command("eval")
def eval_command(
    backend: Annotated[str, typer.Option(help="offline or llm.")] = "offline",
    set_names: Annotated[
        list[str] | None, typer.Option("--set", help="Gold set(s) to run (default: all).")
    ] = None,
    k: Annotated[int, typer.Option(min=1, help="Runs per item (pass^k for an LLM).")] = 1,
    gate: Annotated[bool, typer.Option(help="Only the fast subset `make test` runs.")] = False,
    out: Annotated[Path | None, typer.Option(help="Report folder (default evals/reports).")] = None,
) -> None:
    """Measure the assistant on the gold question sets; writes a markdown + JSON report."""

    from evals.gold import SETS, load_sets
    from evals.harness import COLUMNS, REPORTS_DIR, cell, run_eval, write_report
    from tools.context import load_context
    from tools.errors import ToolError

    if backend not in ("offline", "llm"):
        raise _fail(f"--backend: {backend!r} is not one of offline, llm")
    unknown = [name for name in set_names or [] if name not in SETS]
    if unknown:
        raise _fail(f"--set: {unknown[0]!r} is not one of {', '.join(SETS)}")
    settings = get_settings()
    for noisy in ("assistant", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        ctx = load_context(settings)
    except ToolError as exc:
        raise _fail(exc.message) from None
    sets = load_sets(set_names or None)
    if gate:
        sets = {name: [i for i in items if i.gate] for name, items in sets.items()}
    with Progress(console=err, transient=True) as progress:
        task = progress.add_task("asking", total=None)
        report = run_eval(
            settings,
            ctx,
            sets,
            backend=backend,
            k=k,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    json_path, md_path = write_report(report, out or REPORTS_DIR)
    table = Table(title=f"SARA eval — {backend} backend")
    table.add_column("set")
    for _, label in COLUMNS:
        table.add_column(label, justify="right")
    for name, m in [*report["sets"].items(), ("all", report["overall"])]:
        table.add_row(name, *(cell(key, m.get(key)) for key, _ in COLUMNS))
    console.print(table)
    console.print(f"report: {md_path}  ·  {json_path}", highlight=False)


keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _key_store():
    from api.keys import KeyStore

    return KeyStore(get_settings().keys_path)


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="viewer, staff, analyst or admin.")],
    name: Annotated[str, typer.Option(help="Who or what uses the key.")],
) -> None:
    """Create a key; it is printed once and stored only as a hash."""
    from api.keys import KeyRequestError

    try:
        entry, token = _key_store().create(name, role)
    except KeyRequestError as exc:
        raise _fail(str(exc)) from None
    err.print(f"created key {entry.id} ({entry.name}, {entry.role}); it is shown only once:")
    console.print(token, highlight=False, soft_wrap=True)


@keys_app.command("list")
def keys_list() -> None:
    """The keys: id, name, role, created, revoked (never the keys themselves)."""
    table = Table(title=f"API keys ({get_settings().keys_path})")
    for column in ("id", "name", "role", "created", "revoked"):
        table.add_column(column)
    for key in _key_store().entries():
        table.add_row(key.id, key.name, key.role, key.created_at, "yes" if key.revoked else "")
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (see `sara keys list`).")],
) -> None:
    """Revoke a key; a running server refuses it from the next request."""
    from api.keys import KeyRequestError

    try:
        entry = _key_store().revoke(key_id)
    except KeyRequestError as exc:
        raise _fail(str(exc)) from None
    console.print(f"revoked {entry.id} ({entry.name})")


@keys_app.command("local")
def keys_local() -> None:
    """Print the local admin key (created on first use; development only)."""
    from api.keys import local_admin_key

    current = get_settings()
    if current.environment != "development":
        raise _fail("the local admin key exists only in development; use `sara keys create`")
    console.print(local_admin_key(_key_store(), current.local_key_path), highlight=False)


bench_app = typer.Typer(
    help="Benchmarks (results in benchmarks/results/).", invoke_without_command=True
)
app.add_typer(bench_app, name="bench")


@bench_app.callback()
def bench(
    context: typer.Context,
    quick: Annotated[
        bool, typer.Option("--quick", help="Every stage once at small sizes (about 90 s).")
    ] = False,
    only: Annotated[
        list[str] | None, typer.Option(help="Run only these stages (repeatable).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for the results.")] = None,
) -> None:
    """Every stage beside its baseline, measured in the same run; writes JSON, markdown and a
    growth plot to benchmarks/results/ (a full run also updates BENCHMARKS.md)."""
    if context.invoked_subcommand is not None:
        return
    from benchmarks import results_io, suite

    unknown = sorted(set(only or []) - set(suite.STAGES))
    if unknown:
        raise _fail(f"--only: unknown stage(s) {', '.join(unknown)}; use {', '.join(suite.STAGES)}")
    started = time.perf_counter()

    def progress(message: str) -> None:
        console.print(f"[dim]{time.perf_counter() - started:7.1f}s[/] {message}", highlight=False)

    results = suite.run(quick=quick, only=only, progress=progress)
    name = "suite-quick" if quick else ("suite" if not only else "suite-" + "-".join(only))
    folder = out or results_io.RESULTS
    json_path, md_path = results_io.write(name, results, suite.markdown(results), folder)
    plot = suite.plot_growth(results, md_path.with_suffix(".png"))
    if not quick and not only and out is None:
        results_io.publish_summary(md_path, plot)
    console.print(md_path.read_text(encoding="utf-8"), highlight=False)
    console.print(f"written: {json_path}, {md_path}" + (f", {plot}" if plot else ""))


@bench_app.command("http")
def bench_http(
    students: Annotated[int, typer.Option(min=100, help="Students in the workspace.")] = 100_000,
    workers: Annotated[int, typer.Option(min=1, help="Server worker processes.")] = 2,
    seconds: Annotated[float, typer.Option(min=1, help="Length of each load run.")] = 10,
    repeats: Annotated[int, typer.Option(min=1, help="Runs per scenario (median).")] = 3,
    batch: Annotated[int, typer.Option(min=1, help="Records in the batch call.")] = 50_000,
    home: Annotated[
        Path | None, typer.Option(help="Reuse this workspace (built if it has no warehouse).")
    ] = None,
) -> None:
    """Requests/s and p50/p99 of single scores under wrk, beside /health; batch records/s."""
    from benchmarks import http

    _bench_and_write(
        "http", http.run, http.markdown, students=students, workers=workers, seconds=seconds,
        repeats=repeats, batch=min(batch, students), home=home,
    )  # fmt: skip


def _bench_and_write(name: str, run: Callable[..., dict], markdown: Callable[[dict], str],
                     **options: object) -> None:  # fmt: skip
    """Run one benchmark with progress on the console, then print and write its results."""
    from benchmarks import results_io

    try:
        result = run(**options, progress=lambda message: console.print(message, highlight=False))
    except RuntimeError as exc:
        raise _fail(str(exc)) from None
    text = markdown(result)
    json_path, md_path = results_io.write(name, result, text)
    console.print(text, highlight=False)
    console.print(f"written: {json_path}, {md_path}", highlight=False)


@bench_app.command("load")
def bench_load(
    students: Annotated[int, typer.Option(min=100, help="Students in the workspace.")] = 20_000,
    workers: Annotated[int, typer.Option(min=1, help="Server worker processes.")] = 2,
    concurrency: Annotated[int, typer.Option(min=1, help="Open connections.")] = 16,
    seconds: Annotated[float, typer.Option(min=1, help="Length of each route's run.")] = 10,
    repeats: Annotated[int, typer.Option(min=1, help="Runs per route (median).")] = 3,
    soak_minutes: Annotated[
        float, typer.Option(min=0, help="Minutes of mixed traffic after (0: none).")
    ] = 10,
    home: Annotated[
        Path | None, typer.Option(help="Reuse this workspace (built if it has no warehouse).")
    ] = None,
) -> None:
    """Risk, explanation and chat under wrk (requests, errors, p50/p99), then a mixed soak
    with the server's memory sampled every 10 s."""
    from benchmarks import load

    _bench_and_write(
        "load", load.run, load.markdown, students=students, workers=workers,
        concurrency=concurrency, seconds=seconds, repeats=repeats, soak_minutes=soak_minutes,
        home=home,
    )  # fmt: skip


if __name__ == "__main__":
    app()
