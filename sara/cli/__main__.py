"""``python -m sara.cli``: the same command line as ``sara``."""

from sara.cli import app

app()
