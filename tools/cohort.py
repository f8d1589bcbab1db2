"""Cohort selection shared by every tool that takes filters: validated against the spec, turned
into a parameterised WHERE clause (identifiers from the spec only, values always parameters)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from data.spec import DatasetSpec, Role
from tools.errors import InvalidInput

if TYPE_CHECKING:
    from tools.context import ToolContext

Filters = dict[str, Any]
FILTERABLE = (Role.PROTECTED, Role.CONTEXT, Role.ACTIONABLE)
LEVELS = ("Low", "Medium", "High")


def _check_value(spec: DatasetSpec, column: str, value: Any) -> Any:
    col = spec.column(column)
    if col.dtype == "category":
        if str(value) not in col.categories:
            raise InvalidInput(
                f"filters.{column}: {value!r} is not one of {', '.join(col.categories)}",
                field=f"filters.{column}",
                value=value,
            )
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"filters.{column}: {value!r} must be a number", field=f"filters.{column}", value=value
        ) from None
    if not math.isfinite(number):  # NaN passes every range check and matches no one
        raise InvalidInput(
            f"filters.{column}: {value!r} must be a finite number",
            field=f"filters.{column}",
            value=value,
        )
    low = 0 if col.dtype == "bool" else col.min
    high = 1 if col.dtype == "bool" else col.max
    if (low is not None and number < low) or (high is not None and number > high):
        raise InvalidInput(
            f"filters.{column}: {value!r} must be between {low:g} and {high:g}",
            field=f"filters.{column}",
            value=value,
        )
    if col.dtype in ("int", "bool"):
        if number != int(number):
            raise InvalidInput(
                f"filters.{column}: {value!r} must be a whole number",
                field=f"filters.{column}",
                value=value,
            )
        return int(number)
    return number


def validate_filters(spec: DatasetSpec, filters: Filters | None) -> dict[str, list[Any]]:
    """Each filter column must be a protected, context or actionable spec column, and each
    value allowed by the spec. ``risk_level`` filters on the served risk level."""
    checked: dict[str, list[Any]] = {}
    for column, raw in (filters or {}).items():
        values = raw if isinstance(raw, list | tuple) else [raw]
        if not values:
            raise InvalidInput(
                f"filters.{column}: give at least one value", field=f"filters.{column}", value=raw
            )
        if column == "risk_level":
            bad = [v for v in values if v not in LEVELS]
            if bad:
                raise InvalidInput(
                    f"filters.risk_level: {bad[0]!r} is not one of {', '.join(LEVELS)}",
                    field="filters.risk_level",
                    value=bad[0],
                )
            checked[column] = list(values)
            continue
        if column not in spec.column_names:
            raise InvalidInput(f"filters: unknown column {column!r}", field="filters", value=column)
        if spec.column(column).role not in FILTERABLE:
            raise InvalidInput(
                f"filters: {column!r} has role {spec.column(column).role.value!r}"
                "; only protected, context or actionable columns can filter",
                field="filters",
                value=column,
            )
        checked[column] = [_check_value(spec, column, v) for v in values]
    return checked


def where_clause(spec: DatasetSpec, filters: Filters | None) -> tuple[str, list[Any]]:
    """``WHERE …`` over ``students s`` joined with ``scores c``, and its parameters."""
    parts, params = [], []
    for column, values in validate_filters(spec, filters).items():
        target = "c.risk_level" if column == "risk_level" else f's."{column}"'
        parts.append(f"{target} IN (SELECT unnest(?))")
        params.append(values)
    return ("WHERE " + " AND ".join(parts)) if parts else "", params


def cohort_sql(
    ctx: ToolContext,
    filters: Filters | None,
    columns: str = "s.*, c.risk_score, c.risk_level",
) -> tuple[str, list[Any]]:
    """SELECT of the filtered students with their scores."""
    where, params = where_clause(ctx.spec, filters)
    return f"SELECT {columns} FROM {ctx.scored_source} {where}", params
