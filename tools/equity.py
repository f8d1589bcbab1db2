"""Equity queries: ``query_equity`` compares one metric across groups of students with 95 %
confidence intervals and small-group suppression; ``run_sql`` (in tools/sql_guard.py, exported
here) runs a guarded read-only SELECT for analysts.

SQL is only ever built from identifiers taken from the dataset spec (quoted) and fixed
expressions in this module; every user value is a ``?`` parameter (filters: tools/cohort.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel, Field

from data.spec import ColumnSpec, DatasetSpec, Role
from pipeline.warehouse import quote
from tools import disclosure
from tools.base import ToolInput, ToolOutput, stamp
from tools.cohort import FILTERABLE as GROUPABLE
from tools.cohort import (
    FILTERS_HELP,
    Applied,
    FilterValue,
    Scalar,
    describe_filters,
    validate_filters,
    where_clause,
)
from tools.context import ToolContext
from tools.errors import Forbidden, InvalidInput
from tools.sql_guard import SqlInput, SqlOutput, run_sql  # noqa: F401  (the tool lives here)

MAX_GROUP_BY = 2
CONFIDENCE = 0.95


@cache
def z_score() -> float:
    """The normal quantile of the intervals' confidence (scipy loaded when first needed: it
    costs half a second to import, and most commands compute no interval)."""
    from scipy import stats

    return float(stats.norm.ppf(0.5 + CONFIDENCE / 2))


FLAGGED = "CASE WHEN c.risk_level = 'High' THEN 1.0 ELSE 0.0 END"
FIXED_METRICS = ("mean_risk", "share_high", "outcome_rate", "tpr", "fpr")


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
        description=f"Restrict the population: {FILTERS_HELP}.",
    )


class EquityRow(BaseModel):
    group: dict[str, Scalar | None] = Field(description="The group's value for each column.")
    label: str = Field(description="The group in words, e.g. '<column> = <value>, ...'.")
    n: int | None = Field(
        description="Students in the group; None when suppressed (a hidden cell shows neither "
        "its value nor its size)."
    )
    denominator: int | None = Field(
        description="Students the value is computed over: the group, or for tpr only those "
        "with the outcome, for fpr only those without, for mean:<column> those with a value. "
        "None when suppressed."
    )
    value: float | None = Field(description="The metric; None when suppressed (never 0).")
    count: int | None = Field(
        default=None,
        description="For a share (outcome_rate, share_high, tpr, fpr): how many students of "
        "the denominator have it (the share's numerator; protected like the value for a viewer). "
        "None for a mean, and when suppressed.",
    )
    share: float | None = Field(
        default=None,
        description="The group's share of the students in scope (its n over the overall n): "
        "the scope's make-up. None when suppressed, and for the overall row.",
    )
    ci_low: float | None = Field(description="Lower end of the 95 % confidence interval.")
    ci_high: float | None = Field(description="Upper end of the 95 % confidence interval.")
    suppressed: bool = Field(
        description="Fewer students than the minimum group size, or all but fewer than that "
        "many of its scope."
    )


class EquityQueryOutput(ToolOutput):
    metric: str
    metric_description: str
    interval: str = Field(description="How the confidence intervals are computed.")
    group_by: list[str]
    filters: Applied = Field(description="The filters as applied (normalised).")
    rows: list[EquityRow]
    overall: EquityRow = Field(description="The metric over the whole filtered population.")
    min_group_size: int
    confidence: float = CONFIDENCE
    disclosure: str | None = Field(
        default=None,
        description="How the numbers were protected for a caller below the staff role (noise "
        "from the cell-key method; counts and values are close to, not exactly, the true "
        "ones); None for exact numbers.",
    )


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
    filters: Applied
    rows: list[EquityRow]
    overall: EquityRow


def wilson_interval(successes: float, n: int, z: float | None = None) -> tuple[float, float]:
    """Wilson score interval for a proportion ``successes / n``."""
    z = z_score() if z is None else z
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def t_interval(mean: float, sd: float, n: int) -> tuple[float | None, float | None]:
    """Student-t interval for a mean (None with fewer than two values)."""
    if n < 2 or sd is None or not math.isfinite(sd):
        return None, None
    from scipy import stats

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


@dataclass(frozen=True)
class Protection:
    """What protecting one query's cells needs (tools/disclosure.py): the secret, the noise
    levels, the metric's range (one student's largest contribution to a sum) and the sizes
    a cell's complement is measured against."""

    secret: str
    count_sd: float
    sum_sd: float
    low: float
    high: float
    all_students: int

    def scope_sizes(self, scope: int | None) -> list[int]:
        return [self.all_students, *([scope] if scope is not None else [])]


def _row(
    group: dict[str, Scalar | None],
    stats_row: tuple,
    metric: Metric,
    min_size: int,
    spec: DatasetSpec,
    protection: Protection | None = None,
    scope: int | None = None,
) -> EquityRow:
    n, k, total, mean, sd = stats_row[:5]
    n, k = int(n), int(k)
    suppressed = n < min_size or k < min_size
    if protection is not None:
        sizes = protection.scope_sizes(scope)
        suppressed = suppressed or any(
            disclosure.complement_too_small(n, size, min_size) for size in sizes
        )
    value = low = high = None
    if suppressed:  # a protected cell hides its size too
        n, k = (None if protection is not None else n), None
    elif protection is not None:
        n, k, value, low, high = _protected_values(
            n, k, float(total), float(sd) if sd is not None else math.nan, metric, protection,
            disclosure.Noise(int(stats_row[5]), protection.secret),
        )  # fmt: skip
    elif metric.proportion:
        value = float(total) / k
        low, high = wilson_interval(float(total), k)
    else:
        value = float(mean)
        low, high = t_interval(value, float(sd) if sd is not None else math.nan, k)
    count = round(value * k) if metric.proportion and value is not None and k else None
    return EquityRow(
        group=group,
        label=_label(group, spec),
        n=n,
        denominator=k,
        value=value,
        count=count,
        ci_low=low,
        ci_high=high,
        suppressed=suppressed,
    )


def _protected_values(
    n: int, k: int, total: float, sd: float, metric: Metric, p: Protection, noise
) -> tuple[int, int, float, float | None, float | None]:
    """A cell's size, denominator, value and interval with the cell-key noise added; the
    interval widened by that noise."""
    n_out = max(n + noise.count("n", p.count_sd), 1)
    k_out = n_out if k == n else max(k + noise.count(f"{metric.name}:k", p.count_sd), 1)
    if metric.proportion:
        hits = min(max(total + noise.count(f"{metric.name}:sum", p.count_sd), 0), k_out)
        value = hits / k_out
        low, high = wilson_interval(hits, k_out)
        extra = p.count_sd * math.sqrt(1 + value * value) / k_out
        low, high = disclosure.widen(low, high, value, extra, z_score())
        return n_out, k_out, value, max(0.0, low), min(1.0, high)
    spread = p.high - p.low
    # The exact sum to 9 significant digits first: a parallel sum's last bits depend on the
    # order it ran in, and the same cell must give the same answer every time.
    exact = float(f"{total:.9g}") if math.isfinite(total) else total
    summed = exact + noise.magnitude(f"{metric.name}:sum", p.sum_sd * spread)
    value = min(max(summed / k_out, p.low), p.high)
    rounded_sd = float(f"{sd:.2g}") if math.isfinite(sd) else math.nan
    low, high = t_interval(value, rounded_sd, k_out)
    low, high = disclosure.widen(low, high, value, p.sum_sd * spread / k_out, z_score())
    return n_out, k_out, value, low, high


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


def _suppress_complement(rows: list[EquityRow], protected: bool = False) -> None:
    """With exactly one group hidden, the overall and the other groups would give it away:
    hide the next smallest group too (and its size, when the numbers are protected)."""
    if sum(r.suppressed for r in rows) == 1 and len(rows) > 1:
        i = min((i for i, r in enumerate(rows) if not r.suppressed),
                key=lambda i: rows[i].denominator or 0)  # fmt: skip
        hidden = dict.fromkeys(
            ["value", "ci_low", "ci_high", "denominator", *(["n"] if protected else [])]
        )
        rows[i] = rows[i].model_copy(update={**hidden, "suppressed": True})


def compute_equity(
    ctx: ToolContext, metric: str, group_by: list[str], filters: dict[str, Any] | None
) -> EquityResult:
    """The metric per group and overall, validated, with CIs and suppression — protected by
    disclosure control when the caller reads below the staff role; ``query_equity`` calls it,
    ``equity_summary`` the many-grouping form it is made with (the one place equity numbers
    are computed)."""
    return compute_equity_many(ctx, metric, [group_by], filters)[0]


def compute_equity_many(
    ctx: ToolContext, metric: str, groupings: list[list[str]], filters: dict[str, Any] | None
) -> list[EquityResult]:
    """``compute_equity`` for several groupings of one metric over one scope, in one scan of
    the warehouse (GROUPING SETS), each result as its own call would give it (an equity summary
    asks for every attribute at once)."""
    spec = ctx.spec
    resolved = resolve_metric(spec, metric)
    checked = [check_group_by(spec, group_by) for group_by in groupings]
    shown = validate_filters(spec, filters)
    protection = None
    if disclosure.protected():
        for columns in checked:  # each table checked and counted as its own query would be
            protection = _protection(ctx, resolved, columns, shown)
            disclosure.charge([resolved.name, sorted(c.name for c in columns), shown])
    where, params = where_clause(spec, filters)
    used = list(dict.fromkeys(c.name for columns in checked for c in columns))
    keys = {name: f"g{i}" for i, name in enumerate(used)}
    key_select = "".join(f"s.{quote(name)} AS {k}, " for name, k in keys.items())
    inner = (
        f"SELECT {key_select}{resolved.expression} AS v, s.{quote(ctx.id_column)} AS row_id "
        f"FROM {ctx.scored_source_native} {where}"
    )
    aggregates = "count(*), count(v), sum(v), avg(v), stddev_samp(v)"
    salt: list[Any] = []
    if protection is not None:
        aggregates += ", " + disclosure.cell_key_sql("row_id")
        salt = [protection.secret]
    con = ctx.connection()
    grouped: dict[int, list] = {}
    if used:
        # The overall row and every grouping's in one pass; GROUPING's bit mask tells them
        # apart (a group whose values are all missing has NULL keys too).
        listed = ", ".join(keys.values())
        sets = ", ".join(  # each grouping once: a repeated one would repeat its rows
            dict.fromkeys(
                f"({', '.join(keys[c.name] for c in columns)})" for columns in checked if columns
            )
        )
        records = con.execute(
            f"SELECT GROUPING({listed}), {listed}, {aggregates} FROM ({inner}) "
            f"GROUP BY GROUPING SETS ((), {sets})",
            salt + params,
        ).fetchall()
        everything = (1 << len(used)) - 1
        overall_stats = next((r[1 + len(used) :] for r in records if r[0] == everything), None)
        for record in records:
            grouped.setdefault(record[0], []).append(record)
    else:
        overall_stats = con.execute(f"SELECT {aggregates} FROM ({inner})", salt + params).fetchone()
    if not overall_stats or overall_stats[0] == 0:
        raise InvalidInput(
            f"no students match the filters {describe_filters(shown)}",
            field="filters",
            value=filters,
        )
    min_size = ctx.settings.min_group_size
    overall = _row({}, overall_stats, resolved, min_size, spec, protection)
    results = []
    for columns in checked:
        # GROUPING(g0, …, gn): bit n - i set when g_i is aggregated away
        names = {c.name for c in columns}
        mask = sum(1 << (len(used) - 1 - k) for k, name in enumerate(used) if name not in names)
        positions = [1 + used.index(c.name) for c in columns]
        rows: list[EquityRow] = []
        records = grouped.get(mask, []) if columns else []  # no columns: the overall row only
        mine = [[r[p] for p in positions] + list(r[1 + len(used) :]) for r in records]
        mine.sort(key=lambda r: _sort_key(columns, r[: len(columns)]))
        for record in mine:
            group = {c.name: _python(c, v) for c, v in zip(columns, record, strict=False)}
            stats_row, scope = record[len(columns) :], int(overall_stats[0])
            rows.append(_row(group, stats_row, resolved, min_size, spec, protection, scope))
        _suppress_complement(rows, protection is not None)
        for row in rows:
            if not row.suppressed and row.n is not None and overall.n:
                row.share = row.n / overall.n
        results.append(EquityResult(resolved, [c.name for c in columns], shown, rows, overall))
    return results


def _protection(
    ctx: ToolContext, metric: Metric, columns: list[ColumnSpec], filters: Applied
) -> Protection:
    """The rules a viewer's table must keep, checked, and what protecting its cells needs."""
    settings, spec = ctx.settings, ctx.spec
    crossed = list(dict.fromkeys([*filters, *(c.name for c in columns)]))
    if len(crossed) > settings.disclosure_max_dimensions:
        raise Forbidden(
            f"a viewer key can read tables that cross at most "
            f"{settings.disclosure_max_dimensions} columns (filters and groups together); this "
            f"one crosses {len(crossed)}: {', '.join(crossed)}. Drop a filter or a group, or ask "
            "someone with a staff key",
            field="filters",
            value=crossed,
        )
    source = metric.name.split(":", 1)[1] if metric.name.startswith("mean:") else None
    if source in spec.outcome_sources:
        raise Forbidden(
            f"metric: a viewer key cannot average {source!r}, a column the outcome is defined "
            "from; use 'outcome_rate' (the share with the outcome) instead",
            field="metric",
            value=metric.name,
        )
    low, high = ctx.cached(f"range:{metric.name}", lambda c: _metric_range(c, metric))
    return Protection(
        secret=ctx.cached("disclosure-secret", _secret),
        count_sd=settings.disclosure_count_noise,
        sum_sd=settings.disclosure_sum_noise,
        low=low,
        high=high,
        all_students=ctx.cached("students-count", _all_students),
    )


def _metric_range(ctx: ToolContext, metric: Metric) -> tuple[float, float]:
    """The bounds of one student's contribution to a sum: 0 to 1 for shares and risk scores,
    the spec's declared bounds for a column (else the smallest and largest value held)."""
    if metric.proportion or metric.name in FIXED_METRICS:
        return 0.0, 1.0
    column = ctx.spec.column(metric.name.split(":", 1)[1])
    low, high = column.min, column.max
    if low is None or high is None:
        held = (
            ctx.connection()
            .execute(
                f"SELECT min(v), max(v) FROM (SELECT {metric.expression} AS v FROM students s)"
            )
            .fetchone()
        )
        low = held[0] if low is None else low
        high = held[1] if high is None else high
    if low is None or high is None:
        return 0.0, 0.0
    return float(low), float(high)


def _secret(ctx: ToolContext) -> str:
    return disclosure.workspace_secret(ctx.settings.home)


def _all_students(ctx: ToolContext) -> int:
    return int(ctx.connection().execute("SELECT count(*) FROM students").fetchone()[0])


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
        disclosure=disclosure.NOTE if disclosure.protected() else None,
        **stamp(ctx),
    )
