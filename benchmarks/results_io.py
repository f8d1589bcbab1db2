"""Writing benchmark results: JSON and markdown, stamped with the machine and library versions."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
LIBRARIES = ("fastapi", "uvicorn", "pydantic", "duckdb", "xgboost-cpu", "scikit-learn", "numpy")


def machine() -> dict:
    memory_gb = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory_gb = round(pages / 1024**3, 1)
    except (ValueError, OSError):
        pass
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return {
        "cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": versions,
    }


def write(name: str, result: dict, markdown: str, folder: Path = RESULTS) -> tuple[Path, Path]:
    """``<date>-<name>.json`` and ``.md`` in ``folder``; returns both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    info = machine()
    payload = {"benchmark": name, "measured_at": datetime.now(UTC).isoformat(), "machine": info}
    json_path = folder / f"{stamp}-{name}.json"
    json_path.write_text(json.dumps({**payload, **result}, indent=2) + "\n", encoding="utf-8")
    libs = ", ".join(f"{k} {v}" for k, v in info["libraries"].items() if v)
    header = (
        f"# Benchmark: {name} ({stamp})\n\n"
        f"Machine: {info['cores']} cores, {info['memory_gb']} GB, Python {info['python']}; "
        f"{libs}.\n\n"
    )
    md_path = folder / f"{stamp}-{name}.md"
    md_path.write_text(header + markdown, encoding="utf-8")
    return json_path, md_path
