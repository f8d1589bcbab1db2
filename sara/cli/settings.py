"""``sara settings``: the effective settings and the workspace paths."""

from __future__ import annotations

from rich.table import Table

from sara.cli.common import console
from sara.settings import get_settings


def settings_command() -> None:
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
