"""Cohort selection shared by every tool that takes filters: validated against the spec, turned
into a parameterised WHERE clause (identifiers from the spec only, values always parameters)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

from data.spec import DatasetSpec, Role
from tools.errors import InvalidInput

if TYPE_CHECKING:
    from tools.context import ToolContext

Filters = dict[str, Any]
FILTERABLE = (Role.PROTECTED, Role.CONTEXT, Role.ACTIONABLE)
LEVELS = ("Low", "Medium", "High")
Scalar = str | int | float | bool
# A range on a number column: {"lt": 0.85}, {"gte": 9, "lte": 10} (bounds as stored).
RANGE_OPS = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
Range = dict[Literal["lt", "lte", "gt", "gte"], float]
FilterValue = Scalar | Range | list[Scalar | Range]
Applied = dict[str, list[Scalar] | dict[str, float]]  # filters as validated: values or a range
FILTERS_HELP = (
    "column -> value or list of values (equality / IN), e.g. {'<column>': [<value>, <value>], "
    "'<other column>': <value>}, or for a number column a range {'lt'|'lte'|'gt'|'gte': "
    "<number>} (e.g. {'<column>': {'lt': 0.85}}); also 'risk_level' (Low/Medium/High)"
)


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


def describe_filters(filters: Filters | None) -> str:
    """Filters as text for messages: "<column> = ['<value>'], <number column> < 0.85"."""
    parts = []
    for column, value in (filters or {}).items():
        if isinstance(value, dict):
            parts += [f"{column} {RANGE_OPS.get(op, op)} {bound:g}" for op, bound in value.items()]
        else:
            parts.append(f"{column} = {value}")
    return ", ".join(parts)


def _range(spec: DatasetSpec, column: str, raw: dict) -> dict[str, float]:
    """A range on a number column: known bounds (lt, lte, gt, gte), each a number the column
    may hold."""
    field = f"filters.{column}"
    col = spec.column(column)
    if col.dtype not in ("int", "float"):
        raise InvalidInput(
            f"{field}: a range needs a number column; {column!r} is {col.dtype}",
            field=field,
            value=raw,
        )
    unknown = [k for k in raw if k not in RANGE_OPS]
    if unknown or not raw:
        raise InvalidInput(
            f"{field}: a range has bounds {', '.join(RANGE_OPS)}; got {', '.join(map(str, raw))}",
            field=field,
            value=raw,
        )
    bounds = {}
    for op, bound in raw.items():
        if (
            isinstance(bound, bool)
            or not isinstance(bound, int | float)
            or not math.isfinite(bound)
        ):
            raise InvalidInput(f"{field}.{op}: {bound!r} must be a finite number", field=field,
                               value=bound)  # fmt: skip
        bounds[op] = float(bound)
    return bounds


def validate_filters(spec: DatasetSpec, filters: Filters | None) -> dict[str, Any]:
    """Each filter column must be a protected, context or actionable spec column, and each
    value allowed by the spec (a list of values, or a range on a number column).
    ``risk_level`` filters on the served risk level."""
    checked: dict[str, Any] = {}
    for column, raw in (filters or {}).items():
        if isinstance(raw, list | tuple) and len(raw) == 1 and isinstance(raw[0], dict):
            raw = raw[0]  # [{"lt": 0.85}]: one range
        ranged = isinstance(raw, dict) and column != "risk_level" and column in spec.column_names
        if ranged and spec.column(column).role in FILTERABLE:
            checked[column] = _range(spec, column, raw)
            continue
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
        if isinstance(values, dict):  # a range: each bound a parameter
            for op, bound in values.items():
                parts.append(f"{target} {RANGE_OPS[op]} ?")
                params.append(bound)
            continue
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
