"""Recognise a run that failed because its disk filled up, whichever library hit it (the OS,
DuckDB, SQLite under MLflow, matplotlib), and say so in one sentence naming the path."""

from __future__ import annotations

import errno
import re
import shutil
from pathlib import Path

from sara.errors import UserError

# How DuckDB, SQLite (through SQLAlchemy and MLflow) and the C library word ENOSPC.
_DISK_FULL = re.compile(r"no space left on device|database or disk is full|disk is full", re.I)
_QUOTED_PATH = re.compile(r"""["'](/[^"']+)["']""")


def disk_full(exc: BaseException, workspace: Path | None = None) -> str | None:
    """A message naming the path and the free space when ``exc`` (or an exception it came
    from) is a full disk; None for any other failure."""
    for link in _chain(exc):
        if isinstance(link, OSError) and link.errno == errno.ENOSPC:
            path = link.filename or workspace
        elif _DISK_FULL.search(str(link)):
            found = _QUOTED_PATH.search(str(link))
            path = found.group(1) if found else workspace
        else:
            continue
        lines = str(link).splitlines()
        reason = next((line for line in lines if _DISK_FULL.search(line)), lines[0])
        return _message(Path(path) if path else None, reason.strip())
    return None


def _chain(exc: BaseException):
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _message(path: Path | None, reason: str) -> str:
    where = f" writing {path}" if path else ""
    free = ""
    if path is not None:
        folder = next((p for p in (path, *path.parents) if p.exists()), None)
        if folder is not None:
            free = f" ({shutil.disk_usage(folder).free / 2**20:.1f} MiB free there)"
    return (
        f"no space left on the device{where}{free}: {reason}. Nothing was published: the "
        "previous warehouse and champion are unchanged. Free some space and run "
        "`sara pipeline run` again"
    )


# MLflow runs and model artifacts, the report's charts and DuckDB's working room.
SPACE_MARGIN_BYTES = 16 * 2**20
BYTES_PER_ROW_NO_WAREHOUSE = 4096


class NotEnoughSpace(UserError, RuntimeError):
    """The workspace's disk cannot hold what the run would write; nothing was written."""


def require_free_space(home: Path, warehouse: Path, rows: int, warehouse_rows: int | None) -> None:
    """Refuse to train when the disk holding ``home`` has less free space than the new
    warehouse (sized from the current one per row) plus a margin, so a full disk stops the
    run before MLflow or DuckDB have written anything."""
    per_row = BYTES_PER_ROW_NO_WAREHOUSE
    if warehouse.is_file() and warehouse_rows:
        per_row = max(1, warehouse.stat().st_size // warehouse_rows)
    needed = per_row * rows + SPACE_MARGIN_BYTES
    free = shutil.disk_usage(home).free
    if free < needed:
        raise NotEnoughSpace(
            f"not enough free space on the device holding {home}: {free / 2**20:.1f} MiB "
            f"free, about {needed / 2**20:.1f} MiB needed for the model, report and new "
            f"warehouse of {rows:,} students (no space left on device). Nothing was written; "
            "the previous warehouse and champion are unchanged. Free some space and run "
            "`sara pipeline run` again"
        )
