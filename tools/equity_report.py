"""The equity summary's sections (their models) and their rendering: the markdown report in
plain words and the PNG charts."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

from pydantic import BaseModel, Field

from data.spec import DatasetSpec
from tools.cohort import Applied, describe_filters
from tools.equity import EquityRow, Scalar, value_label

ALPHA = 0.05


class GroupOutcome(BaseModel):
    group: Scalar | None = Field(description="The group's value of the attribute.")
    label: str
    n: int | None = Field(description="Students in the group; None when a protected cell is "
                          "suppressed.")  # fmt: skip
    suppressed: bool = Field(description="Too few students: rates are None, never 0.")
    outcome_rate: float | None
    outcome_ci: tuple[float, float] | None = Field(description="95 % Wilson interval.")
    mean_risk: float | None
    mean_risk_ci: tuple[float, float] | None = Field(description="95 % t interval.")


class FairnessGap(BaseModel):
    metric: str = Field(description="tpr, fpr, selection_rate, calibration_gap or roc_auc.")
    max_gap: float | None
    worst_group: str | None
    best_group: str | None


class AttributeSection(BaseModel):
    attribute: str
    label: str
    groups: list[GroupOutcome]
    gap: float | None = Field(
        description="The headline outcome-rate gap (higher − lower) between the two groups "
        "named in gap_basis."
    )
    highest_group: str | None
    lowest_group: str | None
    gap_basis: str | None = Field(
        default=None, description="Which two groups the headline gap compares, and why."
    )
    mean_risk_gap: float | None = Field(description="Largest gap in mean predicted risk.")
    test: str | None = Field(description="'chi-square' (of independence of outcome and "
                             "group) or 'Fisher exact' for small 2×2 tables.")  # fmt: skip
    chi2: float | None
    p_value: float | None = Field(description="The test's p-value (non-suppressed groups).")
    p_adjusted: float | None = Field(
        description="p-value after Holm correction across the attributes tested."
    )
    significant: bool = Field(description="p_adjusted < 0.05.")
    note: str | None = Field(default=None, description="Why no test was possible, or caveats.")
    model_fairness: list[FairnessGap] | None = Field(
        default=None,
        description="Gaps in the model's error rates between groups, measured "
        "on the held-out test set (whole population only).",
    )
    chart: str | None = None


def ci_of(row: EquityRow) -> tuple[float, float] | None:
    return None if row.ci_low is None or row.ci_high is None else (row.ci_low, row.ci_high)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


def _ci_text(ci: tuple[float, float] | None, scale: float = 100, digits: int = 1) -> str:
    return "" if ci is None else f" ({scale * ci[0]:.{digits}f}–{scale * ci[1]:.{digits}f})"


def _p(value: float | None) -> str:
    return "—" if value is None else ("< 0.001" if value < 0.001 else f"{value:.3f}")


def _name(section: AttributeSection) -> str:
    return f"{section.label} ({section.attribute})"


def _rate_of(section: AttributeSection, label: str | None) -> float | None:
    return next((g.outcome_rate for g in section.groups if g.label == label), None)


def _finding(section: AttributeSection) -> str:
    high = _pct(_rate_of(section, section.highest_group))
    low = _pct(_rate_of(section, section.lowest_group))
    return (
        f"- **{_name(section)}**: the outcome rate is {high} for {section.attribute} = "
        f"{section.highest_group} and {low} for {section.attribute} = {section.lowest_group}, "
        f"a gap of {100 * (section.gap or 0):.1f} percentage points ({section.test} p "
        f"{_p(section.p_value)}, Holm-adjusted p {_p(section.p_adjusted)})."
    )


def _fairness_line(gaps: list[FairnessGap]) -> str:
    parts = [
        f"{g.metric} gap {g.max_gap:.3f} (worst {g.worst_group}, best {g.best_group})"
        for g in gaps
        if g.max_gap is not None
    ]
    return ("Model fairness on the held-out test set: " + "; ".join(parts) + ".") if parts else ""


def render_markdown(
    sections: list[AttributeSection],
    filters: Applied,
    n_students: int,
    outcome: str,
    overall: EquityRow,
    min_group_size: int,
    n_tested: int,
    spec: DatasetSpec | None = None,
    disclosure: str | None = None,
) -> str:
    def scoped(column: str, values: list[Scalar] | dict[str, float]) -> str:
        declared = spec.column(column) if spec is not None and column in spec.column_names else None
        if isinstance(values, dict):  # a range
            return describe_filters({declared.display_name if declared else column: values})
        words = ", ".join(value_label(v, declared) for v in values)
        return f"{declared.display_name if declared else column} in {words}"

    scope = (
        "all students"
        if not filters
        else "students with " + "; ".join(scoped(k, vs) for k, vs in filters.items())
    )
    lines = [
        "# Equity summary",
        "",
        f"Scope: {scope} ({n_students:,} students). Outcome: {outcome}; overall rate "
        f"{_pct(overall.value)}{_ci_text(ci_of(overall))}.",
        f"Confidence intervals are 95 %. Groups with fewer than {min_group_size} students are "
        f"suppressed. Gaps in outcomes are tested with a chi-square test of independence "
        f"(Fisher's exact test for small two-group tables), Holm-corrected across the "
        f"{n_tested} attribute{'s' if n_tested != 1 else ''} tested (significance level "
        f"{ALPHA}).",
        *([f"Numbers are {disclosure}."] if disclosure else []),
        "",
        "## Findings",
        "",
    ]
    significant = [s for s in sections if s.significant]
    plain = [s for s in sections if s.p_value is not None and not s.significant]
    untested = [s for s in sections if s.p_value is None]
    if significant:
        lines.append("Statistically significant gaps in outcomes:")
        lines.extend(_finding(s) for s in significant)
        lines.append("")
    if plain:
        lines.append(
            "No statistically significant gap in outcomes was found for "
            + ", ".join(_name(s) for s in plain)
            + " (Holm-adjusted p ≥ 0.05): the differences between their groups are small "
            "enough to be chance. The confidence intervals below show how large a gap the data "
            "can still rule out."
        )
    if untested:
        lines.append("Not testable: " + "; ".join(f"{_name(s)} ({s.note})" for s in untested) + ".")
    if plain and not significant:
        lines.append("")
        lines.append(
            "Overall, no statistically significant gap in outcomes was found in this scope."
        )
    lines.append("")
    lines.append("Gaps describe differences between groups, not their causes.")
    for section in sections:
        lines += [
            "",
            f"## {_name(section)}",
            "",
            "| group | students | outcome rate (95 % CI) | mean predicted risk (95 % CI) |",
            "|---|---:|---:|---:|",
        ]
        for g in section.groups:
            if g.suppressed:
                size = "—" if g.n is None else g.n
                lines.append(f"| {g.label} | {size} | suppressed | suppressed |")
            else:
                lines.append(
                    f"| {g.label} | {g.n} | {_pct(g.outcome_rate)}"
                    f"{_ci_text(g.outcome_ci)} | {_pct(g.mean_risk)}"
                    f"{_ci_text(g.mean_risk_ci)} |"
                )
        verdict = (
            "significant"
            if section.significant
            else "not significant"
            if section.p_value is not None
            else f"not tested: {section.note}"
        )
        gap = "—" if section.gap is None else f"{100 * section.gap:.1f} points"
        lines += [
            "",
            f"Largest outcome gap: {gap}; {section.test or 'test'} p {_p(section.p_value)}, "
            f"Holm-adjusted p {_p(section.p_adjusted)} ({verdict}).",
        ]
        if section.p_value is not None and section.note:  # a caveat of the test that ran
            lines.append(section.note[0].upper() + section.note[1:] + ".")
        if section.model_fairness:
            lines.append(_fairness_line(section.model_fairness))
    if filters:
        lines += [
            "",
            "Model fairness by group is reported for the whole population only (it "
            "was measured on the held-out test set).",
        ]
    return "\n".join(lines) + "\n"


CHART_KEY = "SARA-chart"  # the PNG text entry holding the digest of what the chart draws


def outcome_chart(section: AttributeSection, path: Path) -> str | None:
    """A PNG bar chart of the outcome rate per non-suppressed group with 95 % CI error bars.
    A chart already at ``path`` drawn from the same numbers is kept, not drawn again (drawing
    costs far more than the summary's queries)."""
    shown = [g for g in section.groups if not g.suppressed and g.outcome_ci is not None]
    if not shown:
        return None
    rates = [100 * g.outcome_rate for g in shown]
    errors = [
        [r - 100 * g.outcome_ci[0] for r, g in zip(rates, shown, strict=True)],
        [100 * g.outcome_ci[1] - r for r, g in zip(rates, shown, strict=True)],
    ]
    title = f"{section.label}: outcome rate by group (95 % CI)"
    hidden = [g.label for g in section.groups if g.suppressed]
    drawn = json.dumps([title, [g.label for g in shown], rates, errors, hidden])
    digest = hashlib.sha256(drawn.encode()).hexdigest()
    if _drawn_digest(path) == digest:
        return str(path)
    from matplotlib.figure import Figure  # Agg rendering, no pyplot state

    fig = Figure(figsize=(max(4.0, 1.1 * len(shown) + 2), 3.6), layout="constrained")
    ax = fig.subplots()
    ax.bar([g.label for g in shown], rates, yerr=errors, capsize=4, color="#4C72B0")
    ax.set_ylabel("outcome rate (%)")
    ax.set_title(title)
    if hidden:
        ax.set_xlabel(f"suppressed (fewer than the minimum group size): {', '.join(hidden)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside, then renamed: a reader never sees half a chart.
    partial = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}")
    fig.savefig(partial, format="png", dpi=100, metadata={CHART_KEY: digest})
    os.replace(partial, path)
    return str(path)


def _drawn_digest(path: Path) -> str | None:
    """The digest a chart SARA wrote at ``path`` was drawn from (None: no such chart)."""
    from PIL import Image

    try:  # the text chunk precedes the pixels: read from the header, nothing decoded
        with Image.open(path) as image:
            return image.info.get(CHART_KEY)
    except (OSError, ValueError):
        return None
