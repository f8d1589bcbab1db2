"""Equity queries: ``query_equity`` compares one metric across groups of students with 95 %
confidence intervals and small-group suppression; ``run_sql`` (in tools/sql_guard.py, exported
here) runs a guarded read-only SELECT for analysts.

SQL is only ever built from identifiers taken from the dataset spec (quoted) and fixed
expressions in this module; every user value is a ``?`` parameter (filters: tools/cohort.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field
from scipy import stats

from data.spec import ColumnSpec, DatasetSpec, Role
from tools.base import ToolInput, ToolOutput, stamp
from tools.cohort import FILTERABLE as GROUPABLE
from tools.cohort import validate_filters, where_clause
from tools.context import ToolContext
from tools.errors import InvalidInput
from tools.sql_guard import SqlInput, SqlOutput, run_sql  # noqa: F401  (the tool lives here)

MAX_GROUP_BY = 2
CONFIDENCE = 0.95
Z = float(stats.norm.ppf(0.5 + CONFIDENCE / 2))
FLAGGED = "CASE WHEN c.risk_level = 'High' THEN 1.0 ELSE 0.0 END"
FIXED_METRICS = ("mean_risk", "share_high", "outcome_rate", "tpr", "fpr")

Scalar = str | int | float | bool
FilterValue = Scalar | list[Scalar]


class EquityQueryInput(ToolInput):
    metric: str = Field(
        default="outcome_rate",
        description="What to compare: 'outcome_rate' (share of students with the outcome, "
        "as the spec's outcome rule defines it), 'mean_risk' (mean predicted risk score), "
        "'share_high' (share at risk level High), 'tpr' / 'fpr' (the model's true / false "
        "positive rate when flagging High), or 'mean:<numeric column>'.",
    )
    group_by: list[str] = Field(
        default_factory=list,
        description="0 to 2 spec columns to group by (protected, context or actionable, not "
        "continuous), e.g. ['<column>'] or ['<column>', '<other column>']. Empty: only the "
        "overall value.",
    )
    filters: dict[str, FilterValue] = Field(
        default_factory=dict,
        description="Restrict the population: column -> value or list of values (equality / "
        "IN), e.g. {'<column>': [<value>, <value>], '<other column>': <value>}; also "
        "'risk_level' (Low/Medium/High).",
    )


class EquityRow(BaseModel):
    group: dict[str, Scalar | None] = Field(description="The group's value for each column.")
    label: str = Field(description="The group in words, e.g. '<column> = <value>, ...'.")
    n: int = Field(description="Students in the group.")
    denominator: int | None = Field(
        description="Students the value is computed over: the group, or for tpr only those "
        "with the outcome, for fpr only those without, for mean:<column> those with a value. "
        "None when suppressed."
    )
    value: float | None = Field(description="The metric; None when suppressed (never 0).")
    ci_low: float | None = Field(description="Lower end of the 95 % confidence interval.")
    ci_high: float | None = Field(description="Upper end of the 95 % confidence interval.")
    suppressed: bool = Field(description="Fewer students than the minimum group size.")


class EquityQueryOutput(ToolOutput):
    metric: str
    metric_description: str
    interval: str = Field(description="How the confidence intervals are computed.")
    group_by: list[str]
    filters: dict[str, list[Scalar]] = Field(description="The filters as applied (normalised).")
    rows: list[EquityRow]
    overall: EquityRow = Field(description="The metric over the whole filtered population.")
    min_group_size: int
    confidence: float = CONFIDENCE


@dataclass(frozen=True)
class Metric:
    name: str
    expression: str  # SQL over students s and scores c; NULL where the metric does not apply
    proportion: bool
    description: str


@dataclass(frozen=True)
class EquityResult:
    metric: Metric
    group_by: list[str]
    filters: dict[str, list[Scalar]]
    rows: list[EquityRow]
    overall: EquityRow


def quote(name: str) -> str:
    """A SQL identifier; only ever called with names taken from the spec."""
    return '"' + name.replace('"', '""') + '"'


def wilson_interval(successes: float, n: int, z: float = Z) -> tuple[float, float]:
    """Wilson score interval for a proportion ``successes / n``."""
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def t_interval(mean: float, sd: float, n: int) -> tuple[float | None, float | None]:
    """Student-t interval for a mean (None with fewer than two values)."""
    if n < 2 or sd is None or not math.isfinite(sd):
        return None, None
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * sd / math.sqrt(n)
    return mean - half, mean + half


def spec_column(spec: DatasetSpec, name: object, field: str) -> ColumnSpec:
    """The spec column called ``name`` (exact, else case-insensitive)."""
    if isinstance(name, str):
        if name in spec.column_names:
            return spec.column(name)
        matches = [c for c in spec.columns if c.name.lower() == name.strip().lower()]
        if len(matches) == 1:
            return matches[0]
    raise InvalidInput(f"{field}: unknown column {name!r}", field=field, value=name)


def check_group_by(
    spec: DatasetSpec, group_by: list[str], field: str = "group_by"
) -> list[ColumnSpec]:
    """The group-by columns: at most two groupable, non-continuous spec columns."""
    if len(group_by) > MAX_GROUP_BY:
        raise InvalidInput(f"{field}: at most {MAX_GROUP_BY} columns, got {len(group_by)}",
                           field=field, value=list(group_by))  # fmt: skip
    columns: list[ColumnSpec] = []
    for name in group_by:
        column = spec_column(spec, name, field)
        rule = None
        if column.role not in GROUPABLE:
            rule = (f"has role {column.role.value!r}; only protected, context or actionable "
                    "columns can be grouped by")  # fmt: skip
        elif column.dtype == "float":
            rule = "is continuous; group by a category, yes/no or whole-number column"
        elif column in columns:
            rule = "is given twice"
        if rule:
            raise InvalidInput(f"{field}: {column.name!r} {rule}", field=field, value=name)
        columns.append(column)
    return columns


def resolve_metric(spec: DatasetSpec, metric: str) -> Metric:
    name = metric.strip()
    outcome = f"s.{quote(spec.outcome.name)}"
    rule = spec.outcome.rule
    fixed = {
        name: Metric(name, expression, proportion, description)
        for name, expression, proportion, description in (
            ("mean_risk", "c.risk_score", False,
             "Mean predicted risk score (calibrated probability of the outcome)."),
            ("share_high", FLAGGED, True, "Share of students at risk level High."),
            ("outcome_rate", f"CAST({outcome} AS DOUBLE)", True,
             f"Share of students with the outcome ({rule})."),
            ("tpr", f"CASE WHEN {outcome} = 1 THEN {FLAGGED} END", True,
             f"True positive rate: of the students with the outcome ({rule}), the share "
             "the model flags as High risk."),
            ("fpr", f"CASE WHEN {outcome} = 0 THEN {FLAGGED} END", True,
             f"False positive rate: of the students without the outcome ({rule}), the share "
             "the model flags as High risk."),
        )
    }  # fmt: skip
    if name.lower() in fixed:
        return fixed[name.lower()]
    if name.lower().startswith("mean:"):
        column = spec_column(spec, name.split(":", 1)[1].strip(), "metric")
        if not column.is_numeric or column.role in (Role.ID, Role.EXCLUDED):
            raise InvalidInput(
                f"metric: {column.name!r} is not a numeric column that can be averaged",
                field="metric",
                value=metric,
            )
        kind = "Share of students with" if column.dtype == "bool" else "Mean"
        return Metric(
            f"mean:{column.name}",
            f"CAST(s.{quote(column.name)} AS DOUBLE)",
            column.dtype == "bool",
            f"{kind} {column.display_name} ({column.name}).",
        )
    raise InvalidInput(
        f"metric: {metric!r} is not one of {', '.join(FIXED_METRICS)} or mean:<numeric column>",
        field="metric",
        value=metric,
    )


def _python(column: ColumnSpec, value: object) -> Scalar | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if column.dtype == "bool":
        return bool(value)
    if column.dtype == "int":
        return int(value)
    return float(value) if column.dtype == "float" else str(value)


def value_label(value: Scalar | None, column: ColumnSpec | None = None) -> str:
    """A group value in words: the spec's value label when it has one, yes/no for booleans,
    '(missing)' for None."""
    if value is None:
        return "(missing)"
    words = column.words_for(value) if column is not None else None
    if words:
        return words
    return ("yes" if value else "no") if isinstance(value, bool) else str(value)


def _label(group: dict[str, Scalar | None], spec: DatasetSpec) -> str:
    if not group:
        return "all students in scope"
    return ", ".join(f"{k} = {value_label(v, spec.column(k))}" for k, v in group.items())


def _row(
    group: dict[str, Scalar | None],
    stats_row: tuple,
    metric: Metric,
    min_size: int,
    spec: DatasetSpec,
) -> EquityRow:
    n, k, total, mean, sd = stats_row
    n, k = int(n), int(k)
    suppressed = n < min_size or k < min_size
    value = low = high = None
    if not suppressed:
        if metric.proportion:
            value = float(total) / k
            low, high = wilson_interval(float(total), k)
        else:
            value = float(mean)
            low, high = t_interval(value, float(sd) if sd is not None else math.nan, k)
    return EquityRow(
        group=group,
        label=_label(group, spec),
        n=n,
        denominator=None if suppressed else k,
        value=value,
        ci_low=low,
        ci_high=high,
        suppressed=suppressed,
    )


def _sort_key(columns: list[ColumnSpec], group: tuple) -> tuple:
    key = []
    for column, value in zip(columns, group, strict=True):
        if value is None:
            key.append((1, 0))
        elif column.dtype == "category" and value in (column.categories or ()):
            key.append((0, column.categories.index(value)))
        else:
            key.append((0, value) if not isinstance(value, str) else (0, math.inf, value))
    return tuple(key)


def _suppress_complement(rows: list[EquityRow]) -> None:
    """With exactly one group hidden, the overall and the other groups would give it away:
    hide the next smallest group too."""
    if sum(r.suppressed for r in rows) == 1 and len(rows) > 1:
        i = min((i for i, r in enumerate(rows) if not r.suppressed),
                key=lambda i: rows[i].denominator or 0)  # fmt: skip
        hidden = dict.fromkeys(("value", "ci_low", "ci_high", "denominator"))
        rows[i] = rows[i].model_copy(update={**hidden, "suppressed": True})


def compute_equity(
    ctx: ToolContext, metric: str, group_by: list[str], filters: dict[str, Any] | None
) -> EquityResult:
    """The metric per group and overall, validated, with CIs and suppression. The one place
    equity numbers are computed; ``query_equity`` and ``equity_summary`` both call it."""
    spec = ctx.spec
    resolved = resolve_metric(spec, metric)
    columns = check_group_by(spec, group_by)
    shown = validate_filters(spec, filters)
    where, params = where_clause(spec, filters)
    keys = [f"g{i}" for i in range(len(columns))]
    key_select = "".join(f"s.{quote(c.name)} AS {k}, " for c, k in zip(columns, keys, strict=True))
    inner = (
        f"SELECT {key_select}{resolved.expression} AS v FROM students s JOIN scores c "
        f"ON s.{quote(ctx.id_column)} = c.student_id {where}"
    )
    aggregates = "count(*), count(v), sum(v), avg(v), stddev_samp(v)"
    con = ctx.connection()
    overall_stats = con.execute(f"SELECT {aggregates} FROM ({inner})", params).fetchone()
    if not overall_stats or overall_stats[0] == 0:
        raise InvalidInput(f"no students match the filters {shown}", field="filters", value=filters)
    min_size = ctx.settings.min_group_size
    overall = _row({}, overall_stats, resolved, min_size, spec)
    rows: list[EquityRow] = []
    if columns:
        grouped = con.execute(
            f"SELECT {', '.join(keys)}, {aggregates} FROM ({inner}) GROUP BY {', '.join(keys)}",
            params,
        ).fetchall()
        grouped.sort(key=lambda r: _sort_key(columns, r[: len(keys)]))
        for record in grouped:
            group = {c.name: _python(c, v) for c, v in zip(columns, record, strict=False)}
            rows.append(_row(group, record[len(keys) :], resolved, min_size, spec))
    _suppress_complement(rows)
    return EquityResult(resolved, [c.name for c in columns], shown, rows, overall)


def query_equity(request: EquityQueryInput, ctx: ToolContext) -> EquityQueryOutput:
    """Compare one metric across groups of students (e.g. the outcome rate by one column, the
    mean of a numeric column by two columns, the model's true positive rate by a protected
    column), for all students or a filtered population. Returns, per group, the number of
    students, the value and its 95 % confidence interval (Wilson for shares, t for means),
    plus the overall value. Groups smaller than the minimum group size are suppressed (value
    None). Use it for any question about differences between groups; it does not prove
    causes."""
    result = compute_equity(ctx, request.metric, request.group_by, request.filters)
    return EquityQueryOutput(
        metric=result.metric.name,
        metric_description=result.metric.description,
        interval="Wilson score interval" if result.metric.proportion else "Student-t interval",
        group_by=result.group_by,
        filters=result.filters,
        rows=result.rows,
        overall=result.overall,
        min_group_size=ctx.settings.min_group_size,
        **stamp(ctx),
    )
