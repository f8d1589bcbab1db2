"""Writing benchmark results: JSON and markdown, stamped with the machine and library versions."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
LIBRARIES = (
    "fastapi", "uvicorn", "pydantic", "duckdb", "xgboost-cpu", "scikit-learn", "numpy", "pandas",
    "shap", "mlflow",
)  # fmt: skip
SUMMARY = RESULTS.parent.parent / "BENCHMARKS.md"


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
    md_path = folder / f"{stamp}-{name}.md"
    md_path.write_text(header(name, stamp, info) + markdown, encoding="utf-8")
    return json_path, md_path


def header(name: str, stamp: str, info: dict) -> str:
    libs = ", ".join(f"{k} {v}" for k, v in info["libraries"].items() if v)
    return (
        f"# Benchmark: {name} ({stamp})\n\n"
        f"Machine: {info['cores']} cores, {info['memory_gb']} GB, Python {info['python']}; "
        f"{libs}.\n\n"
    )


def publish_summary(md_path: Path, plot: Path | None, summary: Path = SUMMARY) -> Path:
    """BENCHMARKS.md: the latest full run's tables, its growth plot and where the raw results
    are."""
    body = md_path.read_text(encoding="utf-8").split("\n", 1)[1]
    analysis = RESULTS.parent / "analysis.md"  # written by hand after reading a full run
    if analysis.is_file():
        body += "\n" + analysis.read_text(encoding="utf-8")
    links = f"Raw results: [{md_path.name}]({md_path.relative_to(summary.parent)}) and its JSON."
    image = f"\n\n![growth]({plot.relative_to(summary.parent)})" if plot else ""
    summary.write_text(
        "# Benchmarks\n\nThe latest full `sara bench` (`make bench`) run. "
        + links
        + image
        + "\n"
        + body,
        encoding="utf-8",
    )
    return summary
