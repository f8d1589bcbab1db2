"""``sara bench``: the benchmark suite and the HTTP and load benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from sara.cli.common import console, fail

app = typer.Typer(help="Benchmarks (results in benchmarks/results/).", invoke_without_command=True)


@app.callback()
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
        raise fail(f"--only: unknown stage(s) {', '.join(unknown)}; use {', '.join(suite.STAGES)}")
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


@app.command("http")
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
        raise fail(str(exc)) from None
    text = markdown(result)
    json_path, md_path = results_io.write(name, result, text)
    console.print(text, highlight=False)
    console.print(f"written: {json_path}, {md_path}", highlight=False)


@app.command("load")
def bench_load(
    students: Annotated[int, typer.Option(min=100, help="Students in the workspace.")] = 20_000,
    workers: Annotated[int, typer.Option(min=1, help="Server worker processes.")] = 2,
    concurrency: Annotated[int, typer.Option(min=1, help="Open connections.")] = 16,
    seconds: Annotated[float, typer.Option(min=1, help="Length of each route's run.")] = 10,
    repeats: Annotated[int, typer.Option(min=1, help="Runs per route (median).")] = 3,
    soak_minutes: Annotated[
        float, typer.Option(min=0, help="Minutes of mixed traffic after (0: none).")
    ] = 10,
    warmup_minutes: Annotated[
        float | None,
        typer.Option(
            min=0, help="Minutes of the same traffic before the soak's (default: its first fifth)."
        ),
    ] = None,
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
        warmup_minutes=warmup_minutes, home=home,
    )  # fmt: skip
