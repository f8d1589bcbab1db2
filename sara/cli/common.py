"""What the command modules share: the consoles, the clean error exit and the spec option."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sara.errors import UserError
from sara.settings import get_settings

console = Console()
err = Console(stderr=True)

SpecOption = Annotated[
    Path | None,
    typer.Option(
        "--spec", help="Dataset spec YAML (default: SARA_SPEC_PATH or the built-in spec)."
    ),
]


def fail(message: str) -> typer.Exit:
    """Print ``message`` on stderr as an error; the caller raises the returned exit (code 1)."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=1)


def load_spec(path: Path | None):
    """The dataset spec at ``path`` (default: the configured one), or a clean exit if it is bad."""
    from data.spec import load_spec as read_spec

    try:
        return read_spec(path or get_settings().spec_path)
    except UserError as exc:
        raise fail(str(exc)) from None
