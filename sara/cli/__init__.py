"""The ``sara`` command line: thin wrappers over the library functions, one module per group.

Each command module imports only Typer, Rich and the settings at the top; the library it
wraps (pandas, scikit-learn, MLflow, the tools) is imported inside the command, because
importing that stack takes seconds and ``sara --help`` should not wait for it.
"""

from __future__ import annotations

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


@app.callback()
def main() -> None:
    from sara.logs import configure_logging

    current = get_settings()
    configure_logging(current.log_level, current.log_format)


# Registration order is the order `sara --help` lists them: commands, then groups.
app.command("settings")(settings_command)
app.command("serve")(serve_command)
app.command("chat")(chat_command)
app.command("eval")(eval_command)
app.add_typer(data.app, name="data")
app.add_typer(pipeline.app, name="pipeline")
app.add_typer(keys.app, name="keys")
app.add_typer(bench.app, name="bench")
