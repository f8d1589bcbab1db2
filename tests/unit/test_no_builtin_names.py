"""No code outside the built-in spec, its vocabulary and the generator names a built-in column,
value or id: every surface takes them from the spec in service."""

from __future__ import annotations

import re
from pathlib import Path

from data.spec import load_spec

REPO = Path(__file__).resolve().parents[2]
CODE = ("tools", "assistant", "api", "pipeline", "ui")


def test_serving_and_pipeline_code_names_no_built_in_column():
    spec = load_spec(None)
    names = [c.name for c in spec.columns if len(c.name) > 3]
    pattern = re.compile(r"\b(?:" + "|".join(map(re.escape, names)) + r")\b|\bS0000\d+")
    found = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for folder in CODE
        for path in sorted((REPO / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1)
        if pattern.search(line)
    ]
    assert not found, "\n".join(found)
