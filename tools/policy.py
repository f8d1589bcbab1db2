"""One protected-attribute policy for every surface (REST, chat, UI, the tools themselves):
students are never listed, ranked or selected by a protected attribute — decisions about a
student rest on that student's own situation. Groups may be compared by one; that is what an
equity analysis is (``query_equity``, ``equity_summary``, ``compare_interventions`` on a
cohort)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from data.spec import DatasetSpec, Role
from tools.errors import Forbidden

# The tools that list or select students: never by a protected column.
SELECTING_TOOLS = ("find_students", "plan_interventions")


def selection_refusal(names: list[str], or_another: bool = False) -> str:
    """Why a list, ranking or selection by these protected columns (``or_another``: or any
    other) is refused, and what to do instead."""
    said = " or ".join(names)
    by = f"{said} or another protected attribute" if or_another else said
    return (
        f"I won't list, rank or select individual students by {by}: decisions about a "
        f"student must rest on that student's own situation. I can compare groups instead "
        f"(for example how risk differs by {said}) or plan support with an equity rule."
    )


def protected_in(spec: DatasetSpec, filters: dict[str, Any] | None) -> list[str]:
    """The protected spec columns among these filters (matched ignoring case)."""
    protected = {c.name.lower(): c.name for c in spec.columns if c.role == Role.PROTECTED}
    return [protected[k.lower()] for k in (filters or {}) if k.lower() in protected]


def check_selection(spec: DatasetSpec, filters: dict[str, Any] | None) -> None:
    """Refuse a list or selection of students whose filters name a protected column."""
    refuse_protected_selection(spec, filters or {}, field="filters")


def refuse_protected_selection(
    spec: DatasetSpec, columns: Iterable[str], field: str = "sql"
) -> None:
    """Refuse a list of students selected or ranked by any of ``columns`` that is protected."""
    named = protected_in(spec, dict.fromkeys(columns))
    if named:
        labels = [spec.column(c).display_name for c in named]
        raise Forbidden(selection_refusal(labels), field=field, value=named)
