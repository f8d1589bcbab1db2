"""equity_summary: per attribute, the outcome rate and mean risk by group with 95 % CIs, the
largest gap and whether it is statistically distinguishable from zero (chi-square test, Holm
correction across attributes), the model's fairness by group, a markdown report and charts."""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from data.spec import ColumnSpec, DatasetSpec, Role
from tools import disclosure
from tools.base import ToolInput, ToolOutput, stamp
from tools.cohort import FILTERS_HELP, Applied, cohort_sql
from tools.context import ToolContext
from tools.equity import (
    EquityResult,
    EquityRow,
    FilterValue,
    check_group_by,
    compute_equity_many,
    value_label,
)
from tools.equity_report import (
    ALPHA,
    AttributeSection,
    FairnessGap,
    GroupOutcome,
    ci_of,
    outcome_chart,
    render_markdown,
)
from tools.errors import InvalidInput

MAX_ATTRIBUTES = 12
# A headline gap compares groups holding at least this share of the students in scope.
HEADLINE_SHARE = 0.05
SMALL_EXPECTED = 5
FAIRNESS_METRICS = ("tpr", "fpr", "selection_rate", "calibration_gap", "roc_auc")


class EquitySummaryInput(ToolInput):
    filters: dict[str, FilterValue] = Field(
        default_factory=dict,
        description=f"Restrict the report to a population, as in query_equity: {FILTERS_HELP}.",
    )
    attributes: list[str] | None = Field(
        default=None,
        description="Columns to compare groups on (protected, context or actionable). Default: "
        "the protected columns plus those the dataset spec marks for equity summaries.",
    )


class EquitySummaryOutput(ToolOutput):
    filters: Applied
    n_students: int
    outcome: str = Field(description="The outcome and its rule, e.g. 'at_risk (score < 50)'.")
    overall_outcome_rate: float | None
    attributes: list[AttributeSection]
    significant_attributes: list[str]
    alpha: float = ALPHA
    min_group_size: int
    markdown: str = Field(description="The report in plain words, ready to show.")
    charts: list[str] = Field(description="Paths of PNG bar charts (outcome rate by group).")
    disclosure: str | None = Field(
        default=None,
        description="How the numbers were protected for a caller below the staff role; None "
        "for exact numbers.",
    )


def default_attributes(spec: DatasetSpec) -> list[str]:
    """The protected columns, then the columns the spec marks ``equity: true``."""
    extra = [
        c.name
        for c in spec.columns
        if getattr(c, "equity", False) and c.role in (Role.CONTEXT, Role.ACTIONABLE)
    ]
    return list(dict.fromkeys([*spec.protected, *extra]))


def holm(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the order given."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


@dataclass(frozen=True)
class Clustering:
    """How much rows of one student resemble each other, for tests over enrolments."""

    mean_size: float  # rows per student, weighted by rows (sum m^2 / N)
    icc: float  # intra-class correlation of the outcome within a student
    factor: float  # the design effect 1 + (mean_size - 1) * icc

    @property
    def note(self) -> str:
        return (
            f"students appear in several rows ({self.mean_size:.2f} a row on average, outcome "
            f"correlation within a student {self.icc:.2f}): the chi-square is divided by the "
            f"design effect {self.factor:.2f} (Donner's adjustment for clustered data)"
        )


def clustering(sizes: np.ndarray, events: np.ndarray) -> Clustering:
    """The design effect of a binary outcome over clusters (``sizes`` rows, ``events`` with the
    outcome in each): the one-way ANOVA estimate of the intra-class correlation (clipped at 0)
    and 1 + (m_A - 1) * icc with m_A = sum m^2 / N (Donner, Birkett & Buck 1981)."""
    sizes, events = np.asarray(sizes, dtype=float), np.asarray(events, dtype=float)
    n, k = sizes.sum(), len(sizes)
    mean_size = float((sizes**2).sum() / n) if n else 1.0
    if k < 2 or n <= k:
        return Clustering(mean_size, 0.0, 1.0)
    between_ss = (events**2 / sizes).sum() - events.sum() ** 2 / n
    within_ss = events.sum() - (events**2 / sizes).sum()
    msb, msw = between_ss / (k - 1), within_ss / (n - k)
    m0 = (n - (sizes**2).sum() / n) / (k - 1)
    denominator = msb + (m0 - 1) * msw
    icc = float(min(max((msb - msw) / denominator, 0.0), 1.0)) if denominator > 0 else 0.0
    return Clustering(mean_size, icc, 1.0 + (mean_size - 1.0) * icc)


def _clustering(ctx: ToolContext, filters: dict[str, Any]) -> Clustering | None:
    """The clustering of the outcome by student in scope, when rows can repeat a student."""
    person = ctx.spec.person_key
    if person is None:
        return None
    column, suffixed = person
    key = f's."{column}"'
    key = f"split_part({key}, '#', 1)" if suffixed else key
    outcome = f's."{ctx.spec.outcome.name}"'
    inner, params = cohort_sql(ctx, filters, columns=f"{key} AS person, {outcome} AS y")
    found = (
        ctx.connection()
        .execute(
            f"SELECT count(*) AS m, sum(CAST(y AS DOUBLE)) AS e FROM ({inner}) "
            "WHERE y IS NOT NULL GROUP BY person",
            params,
        )
        .fetchnumpy()
    )
    if not len(found["m"]) or found["m"].max() <= 1:
        return None
    return clustering(found["m"], found["e"])


def _test(
    rows: list[EquityRow], clustered: Clustering | None = None
) -> tuple[str | None, float | None, float | None, str | None]:
    """(test, statistic, p-value, note) for outcome × group over the non-suppressed groups:
    chi-square test of independence, or Fisher's exact test for a 2×2 table with an expected
    count below 5. When rows repeat students, the chi-square is adjusted for that clustering
    (an exact test would treat the rows as independent, so it is not used then)."""
    shown = [r for r in rows if not r.suppressed]
    if len(shown) < 2:
        return None, None, None, "fewer than two groups large enough to compare"
    table = []
    for row in shown:
        events = round(row.value * row.denominator)
        table.append([events, row.denominator - events])
    if sum(r[0] for r in table) == 0 or sum(r[1] for r in table) == 0:
        return None, None, None, "every student in scope has the same outcome"
    from scipy.stats import chi2, chi2_contingency, fisher_exact  # loaded when first needed

    result = chi2_contingency(table)
    if clustered is not None and clustered.factor > 1.0:
        statistic = float(result.statistic) / clustered.factor
        p_value = float(chi2.sf(statistic, result.dof))
        return "chi-square (clustered)", statistic, p_value, clustered.note
    if result.expected_freq.min() >= SMALL_EXPECTED:
        return "chi-square", float(result.statistic), float(result.pvalue), None
    if len(table) == 2:
        return "Fisher exact", None, float(fisher_exact(table).pvalue), None
    note = f"some expected counts are below {SMALL_EXPECTED}; the p-value is approximate"
    return "chi-square", float(result.statistic), float(result.pvalue), note


def _fairness(ctx: ToolContext, attribute: str) -> list[FairnessGap] | None:
    found = (
        ctx.connection()
        .execute(
            "SELECT metric, max_gap, worst_group, best_group FROM fairness_gaps "
            "WHERE attribute = ?",
            [attribute],
        )
        .fetchall()
    )
    gaps = [
        FairnessGap(
            metric=m,
            max_gap=None if g is None or math.isnan(g) else float(g),
            worst_group=w,
            best_group=b,
        )
        for m, g, w, b in found
        if m in FAIRNESS_METRICS
    ]
    return sorted(gaps, key=lambda g: FAIRNESS_METRICS.index(g.metric)) or None


def _section(
    ctx: ToolContext,
    attribute: str,
    filters: dict[str, Any],
    clustered: Clustering | None,
    outcome: EquityResult,
    risk: EquityResult,
) -> AttributeSection:
    """One attribute's section, from its outcome-rate and mean-risk tables."""
    risk_by_label = {r.label: r for r in risk.rows}
    groups = []
    for row in outcome.rows:
        risk_row = risk_by_label[row.label]
        groups.append(
            GroupOutcome(
                group=row.group[attribute],
                label=value_label(row.group[attribute], ctx.spec.column(attribute)),
                n=row.n,
                suppressed=row.suppressed,
                outcome_rate=row.value,
                outcome_ci=ci_of(row),
                mean_risk=risk_row.value,
                mean_risk_ci=ci_of(risk_row),
            )
        )
    shown = [g for g in groups if not g.suppressed]
    column = ctx.spec.column(attribute)
    pair, basis = headline_pair(column, shown, outcome.overall.n, ctx.settings.min_group_size)
    high, low = sorted(pair, key=lambda g: g.outcome_rate, reverse=True) if pair else (None, None)
    risks = [g.mean_risk for g in shown if g.group is not None]
    test, statistic, p_value, note = _test(outcome.rows, clustered)
    return AttributeSection(
        attribute=attribute,
        label=column.display_name,
        groups=groups,
        gap=high.outcome_rate - low.outcome_rate if pair else None,
        highest_group=high.label if pair else None,
        lowest_group=low.label if pair else None,
        gap_basis=basis,
        mean_risk_gap=max(risks) - min(risks) if len(risks) >= 2 else None,
        test=test,
        chi2=statistic,
        p_value=p_value,
        p_adjusted=None,
        significant=False,
        note=note,
        model_fairness=None if filters else _fairness(ctx, attribute),
    )


def headline_pair(
    column: ColumnSpec, shown: list[GroupOutcome], n_in_scope: int, min_group_size: int
) -> tuple[tuple[GroupOutcome, GroupOutcome] | None, str | None]:
    """The two groups a headline gap compares, and how they were chosen. Only groups with a
    value (never "(missing)") and at least HEADLINE_SHARE of the students in scope (or the
    minimum group size, if larger) take part, so a handful of students cannot set the headline.
    An ordered column (ordered categories, numbers) compares its lowest and highest level;
    any other compares the groups with the highest and lowest outcome rate."""
    floor = max(min_group_size, math.ceil(HEADLINE_SHARE * n_in_scope))
    eligible = [g for g in shown if g.group is not None and g.n >= floor]
    if len(eligible) < 2:
        return None, None
    if column.ordered or column.dtype in ("int", "float"):
        order = list(column.categories or ())
        ranked = sorted(
            eligible, key=lambda g: order.index(g.group) if g.group in order else g.group
        )
        return (ranked[0], ranked[-1]), (
            f"lowest vs highest level of an ordered attribute (groups of at least {floor})"
        )
    ranked = sorted(eligible, key=lambda g: g.outcome_rate)
    return (ranked[-1], ranked[0]), f"highest vs lowest outcome rate (groups of at least {floor})"


def _scope_key(filters: Applied) -> str:
    """The charts' file prefix: the scope, and whether the numbers are protected (a viewer may
    read only protected charts, never the exact ones drawn for staff)."""
    prefix = disclosure.CHART_PREFIX if disclosure.protected() else ""
    if not filters:
        return prefix + "all"
    text = json.dumps(filters, sort_keys=True, default=str)
    return prefix + "scope-" + hashlib.sha256(text.encode()).hexdigest()[:10]


def equity_summary(request: EquitySummaryInput, ctx: ToolContext) -> EquitySummaryOutput:
    """Write an equity report for all students or a filtered population: for each attribute
    (by default the protected columns plus those the spec marks for equity summaries, less any
    column the filters fix to one value) the outcome rate and mean predicted
    risk per group with 95 % confidence intervals, the largest gap between groups, and
    whether that gap is statistically significant
    (chi-square test, Holm-corrected across attributes, p < 0.05) — including saying plainly
    when no significant gap exists. Adds the model's fairness gaps by group (whole population
    only), a markdown report and PNG bar charts. Use it for 'are there equity gaps?'."""
    spec = ctx.spec
    if request.attributes is not None:
        names = request.attributes
    else:  # a column the scope fixes to one value has nothing to compare
        fixed = {k for k, v in request.filters.items() if not isinstance(v, list) or len(v) == 1}
        names = [a for a in default_attributes(spec) if a not in fixed]
    if not 1 <= len(names) <= MAX_ATTRIBUTES:
        raise InvalidInput(f"attributes: give 1 to {MAX_ATTRIBUTES} columns",
                           field="attributes", value=names)  # fmt: skip
    columns = [check_group_by(spec, [name], "attributes")[0] for name in dict.fromkeys(names)]
    # every attribute's table of each metric in one scan; the first outcome table is the
    # scope as a whole
    wanted = [[], *([c.name] for c in columns)]
    overall, *outcomes = compute_equity_many(ctx, "outcome_rate", wanted, request.filters)
    if overall.overall.n is None:
        raise InvalidInput(
            f"filters: fewer than {ctx.settings.min_group_size} students are in this scope (or all "
            "but fewer than that many), too few to report on",
            field="filters",
            value=request.filters,
        )
    clustered = _clustering(ctx, request.filters)  # one scope: measured once for every section
    risks = compute_equity_many(ctx, "mean_risk", wanted[1:], request.filters)
    sections = [
        _section(ctx, c.name, request.filters, clustered, outcome, risk)
        for c, outcome, risk in zip(columns, outcomes, risks, strict=True)
    ]
    tested = [s for s in sections if s.p_value is not None]
    for section, adjusted in zip(tested, holm([s.p_value for s in tested]), strict=True):
        section.p_adjusted = adjusted
        section.significant = adjusted < ALPHA
    out_dir = Path(ctx.settings.reports_dir) / "equity"
    key = _scope_key(overall.filters)
    charts = []
    for section in sections:
        section.chart = outcome_chart(section, out_dir / f"{key}_{_safe(section.attribute)}.png")
        if section.chart:
            charts.append(section.chart)
    outcome = f"{spec.outcome.name} ({spec.outcome.rule})"
    n_students = overall.overall.n
    markdown = render_markdown(
        sections=sections,
        filters=overall.filters,
        n_students=n_students,
        outcome=outcome,
        overall=overall.overall,
        min_group_size=ctx.settings.min_group_size,
        n_tested=len(tested),
        spec=ctx.spec,
        disclosure=disclosure.NOTE if disclosure.protected() else None,
    )
    return EquitySummaryOutput(
        filters=overall.filters,
        n_students=n_students,
        outcome=outcome,
        overall_outcome_rate=overall.overall.value,
        attributes=sections,
        significant_attributes=[s.attribute for s in sections if s.significant],
        min_group_size=ctx.settings.min_group_size,
        markdown=markdown,
        charts=charts,
        disclosure=disclosure.NOTE if disclosure.protected() else None,
        **stamp(ctx),
    )


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name)
