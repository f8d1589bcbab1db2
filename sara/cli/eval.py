"""``sara eval``: the assistant measured on the gold question sets."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from sara.cli.common import console, err, fail
from sara.settings import get_settings


def eval_command(
    backend: Annotated[str, typer.Option(help="offline or llm.")] = "offline",
    set_names: Annotated[
        list[str] | None, typer.Option("--set", help="Gold set(s) to run (default: all).")
    ] = None,
    k: Annotated[int, typer.Option(min=1, help="Runs per item (pass^k for an LLM).")] = 1,
    gate: Annotated[bool, typer.Option(help="Only the fast subset `make test` runs.")] = False,
    out: Annotated[Path | None, typer.Option(help="Report folder (default evals/reports).")] = None,
    items: Annotated[
        Path | None,
        typer.Option(
            help="A folder of <set>.jsonl items to ask instead of the gold sets, e.g. a fresh "
            "blind batch measured before it is folded in; the report is named after it."
        ),
    ] = None,
) -> None:
    """Measure the assistant on the gold question sets; writes a markdown + JSON report."""

    from evals.gold import SETS, load_sets
    from evals.harness import COLUMNS, REPORTS_DIR, cell, run_eval, write_report
    from tools.context import load_context
    from tools.errors import ToolError

    if backend not in ("offline", "llm"):
        raise fail(f"--backend: {backend!r} is not one of offline, llm")
    unknown = [name for name in set_names or [] if name not in SETS]
    if unknown:
        raise fail(f"--set: {unknown[0]!r} is not one of {', '.join(SETS)}")
    settings = get_settings()
    for noisy in ("assistant", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        ctx = load_context(settings, local_first=True)
    except ToolError as exc:
        raise fail(exc.message) from None
    if items is not None and not items.is_dir():
        raise fail(f"--items: {items} is not a folder of <set>.jsonl files")
    try:
        sets = load_sets(set_names or None, items) if items else load_sets(set_names or None)
    except ValueError as exc:
        raise fail(f"--items: {exc}") from None
    if not any(sets.values()):
        raise fail(f"--items: {items} holds none of {', '.join(SETS)} (.jsonl)")
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
    json_path, md_path = write_report(report, out or REPORTS_DIR, items.name if items else None)
    table = Table(title=f"SARA eval — {backend} backend")
    table.add_column("set")
    for _, label in COLUMNS:
        table.add_column(label, justify="right")
    for name, m in [*report["sets"].items(), ("all", report["overall"])]:
        table.add_row(name, *(cell(key, m.get(key)) for key, _ in COLUMNS))
    console.print(table)
    console.print(f"report: {md_path}  ·  {json_path}", highlight=False)
