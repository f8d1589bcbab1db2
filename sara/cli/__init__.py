"""The ``sara`` command line: thin wrappers over the library functions, one module per group.

Each command module imports only Typer, Rich and the settings at the top; the library it
wraps (pandas, scikit-learn, MLflow, the tools) is imported inside the command, because
importing that stack takes seconds and ``sara --help`` should not wait for it.
"""

from __future__ import annotations

import os
from fnmatch import fnmatch
from pathlib import Path

import typer

from sara.cli import bench, data, keys, pipeline
from sara.cli.chat import chat_command
from sara.cli.eval import eval_command
from sara.cli.serve import serve_command
from sara.cli.settings import settings_command
from sara.settings import get_settings

__all__ = ["app"]

app = typer.Typer(
    help="SARA, the Student Academic Risk Assistant.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


# The workspace holds student records, scores and who read them: whatever a `sara` process
# writes (and the server workers it starts, which inherit the mask) is its owner's only.
PRIVATE_UMASK = 0o077
# What SARA keeps in its workspace (names or patterns, at its top level): what
# `private_workspace` tightens. Only these, so a workspace set to a shared folder by mistake
# does not have everything else in it changed.
WORKSPACE_ENTRIES = (
    "data", "quarantine", "reports", "logs", "staging", "mlartifacts", "metrics", "model-cache",
    "warehouse.duckdb*", "mlflow.db*", "audit.sqlite*", "api-keys.json*", "local-admin.key",
)  # fmt: skip


@app.callback()
def main() -> None:
    from sara.logs import configure_logging

    os.umask(PRIVATE_UMASK)
    current = get_settings()
    configure_logging(current.log_level, current.log_format)
    private_workspace(current.home)


# Registration order is the order `sara --help` lists them: commands, then groups.
app.command("settings")(settings_command)
app.command("serve")(serve_command)
app.command("chat")(chat_command)
app.command("eval")(eval_command)
app.add_typer(data.app, name="data")
app.add_typer(pipeline.app, name="pipeline")
app.add_typer(keys.app, name="keys")
app.add_typer(bench.app, name="bench")


def private_workspace(home: Path) -> None:
    """Make SARA's files in an existing workspace their owner's only (folders 0700, files 0600):
    a workspace written by an older SARA, or by a process that did not set the mask. Creates
    nothing; a path this user cannot change (another's file) is left as it is."""
    if not home.is_dir():
        return
    entries = list(home.iterdir())
    ours = [e for e in entries if any(fnmatch(e.name, p) for p in WORKSPACE_ENTRIES)]
    if len(ours) == len(entries):  # the folder is SARA's alone
        _make_private(home)
    for entry in ours:
        _make_private(entry)
        for folder, folders, files in os.walk(entry) if entry.is_dir() else ():
            for name in (*folders, *files):
                _make_private(Path(folder, name))


def _make_private(path: Path) -> None:
    try:
        if path.is_symlink():  # chmod would change what it points to, maybe outside
            return
        mode = 0o700 if path.is_dir() else 0o600
        if path.stat().st_mode & 0o777 != mode:
            path.chmod(mode)
    except OSError:
        return
