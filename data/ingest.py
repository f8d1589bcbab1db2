"""Ingest: read a source, validate it against the spec, keep the quarantine. The one entry
point the CLI, the pipeline and the tests use to bring data in."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from data.loaders import read_table
from data.spec import DatasetSpec
from data.validate import ValidationReport, validate_frame


def ingest(
    source: str | Path,
    spec: DatasetSpec,
    quarantine_dir: Path,
    *,
    table: str | None = None,
    encoding: str | None = None,
) -> ValidationReport:
    """Load ``source``, validate it, and write the quarantine files when any row fails.

    Raises ``DataLoadError`` (unreadable source) or ``SchemaMismatchError`` (wrong columns)."""
    frame = read_table(source, table=table, encoding=encoding, id_column=spec.id_parts)
    return check(frame, spec, source_stem(source), quarantine_dir)


def source_stem(source: str | Path) -> str:
    """The name quarantine files of this source start with."""
    return Path(str(source)).name.split(".")[0]


def check(frame, spec: DatasetSpec, stem: str, quarantine_dir: Path) -> ValidationReport:
    """Validate a loaded frame and write the quarantine files when any row fails."""
    report = validate_frame(frame, spec)
    if report.n_quarantined:
        report.files = write_quarantine(report, stem, quarantine_dir)
    return report


def write_quarantine(report: ValidationReport, stem: str, folder: Path) -> dict[str, str]:
    """Write the issues (row, student_id, column, value, rule) and the failing rows as read."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    issues = folder / f"{stem}-{stamp}.issues.csv"
    rows = folder / f"{stem}-{stamp}.rows.csv"
    report.issues.to_csv(issues, index=False)
    report.quarantined.to_csv(rows, index=False)
    return {"issues": str(issues), "rows": str(rows)}
