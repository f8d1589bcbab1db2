"""The fairness gate at model selection: a model's fairness report judged against the limits,
protected attribute by attribute, on groups large enough to judge. Each attribute is checked
(pass / fail) or not checked, with every group's size; a gate that checked nothing never reads
as within the limits."""

from __future__ import annotations

from typing import Literal

import pandas as pd
from pydantic import BaseModel

from pipeline.fairness import BY_GROUP_COLUMNS, FairnessReport

GateStatus = Literal["checked_pass", "checked_fail", "not_checked"]
GateVerdict = Literal["within_limits", "partly_checked", "outside_limits", "not_checked"]
GateMetric = Literal["calibration_gap", "roc_auc_spread"]

VERDICT_WORDS: dict[str, str] = {
    "within_limits": "within the fairness limits",
    "partly_checked": "within the fairness limits where checked, NOT CHECKED elsewhere",
    "outside_limits": "OUTSIDE the fairness limits",
    "not_checked": "fairness NOT CHECKED",
}
_METRIC_WORDS = {"calibration_gap": "calibration gap", "roc_auc_spread": "ROC-AUC spread"}


class GateGroup(BaseModel):
    """One group of a protected attribute in the test set, and whether it is large enough to
    gate on."""

    group: str
    n: int
    gated: bool


class GateCheck(BaseModel):
    """One limit on one attribute. ``value`` is measured over the groups large enough to gate
    on when checked; when not checked, over every reported group, for information only."""

    metric: GateMetric
    limit: float
    status: GateStatus
    value: float | None = None
    over_limit: bool = False
    note: str


def group_sizes(groups: list[dict]) -> str:
    """Groups (``group``, ``n``, ``gated``) and their sizes in words, those too small to gate
    on named as such."""
    gated = ", ".join(f"{g['group']} n={g['n']:,}" for g in groups if g["gated"])
    small = ", ".join(f"{g['group']} n={g['n']:,}" for g in groups if not g["gated"])
    return "; ".join(part for part in (gated, small and f"too small to check: {small}") if part)


class AttributeGate(BaseModel):
    """The gate on one protected attribute: ``checked_pass`` only when every limit was checked
    and met, ``checked_fail`` when one was checked and broken, otherwise ``not_checked``."""

    attribute: str
    status: GateStatus
    groups: list[GateGroup]
    checks: list[GateCheck]

    def sizes(self) -> str:
        """The groups and their test-set sizes, those too small to gate on last, e.g.
        ``F n=420, M n=380`` or ``too small to check: F n=120, M n=80``."""
        return group_sizes([g.model_dump() for g in self.groups])

    def summary(self) -> str:
        """The attribute's result in plain words."""
        parts = [check.note for check in self.checks]
        return f"{self.attribute} ({self.sizes()}): " + "; ".join(parts)


class FairnessGate(BaseModel):
    """A model's result at the selection gate: one entry per protected attribute and the
    verdict. ``not_checked`` (no attribute could be checked) is never reported as within
    the limits; ``partly_checked`` passed every check that could run."""

    verdict: GateVerdict
    min_group: int
    max_calibration_gap: float
    max_auc_gap: float
    attributes: list[AttributeGate]

    @property
    def failed(self) -> bool:
        """Whether a checked limit was broken (the model is not eligible)."""
        return self.verdict == "outside_limits"

    def violations(self) -> list[str]:
        """The broken limits, e.g. ``sex: ROC-AUC spread 0.243 > 0.1``."""
        return [
            f"{a.attribute}: {_METRIC_WORDS[c.metric]} {c.value:.3f} > {c.limit}"
            for a in self.attributes
            for c in a.checks
            if c.status == "checked_fail"
        ]

    def words(self) -> str:
        """The verdict alone in plain words."""
        return VERDICT_WORDS[self.verdict]

    def summary(self) -> str:
        """The verdict and its grounds in plain words, for logs, reports and model cards."""
        rule = (
            f"calibration gap ≤ {self.max_calibration_gap}, ROC-AUC spread ≤ "
            f"{self.max_auc_gap}, over groups of ≥ {self.min_group} test students"
        )
        if not self.attributes:
            return f"{self.words()}: the spec has no protected attributes"
        by_status = {
            status: [a for a in self.attributes if a.status == status]
            for status in ("checked_pass", "checked_fail", "not_checked")
        }
        names = {s: ", ".join(a.attribute for a in rows) for s, rows in by_status.items()}
        if self.verdict == "outside_limits":
            text = f"{self.words()} ({rule}): " + "; ".join(self.violations())
        elif self.verdict == "within_limits":
            text = f"{self.words()} on {names['checked_pass']} ({rule})"
        elif self.verdict == "partly_checked":
            text = (
                f"within the fairness limits on {names['checked_pass']} ({rule}); "
                f"NOT CHECKED on {names['not_checked']}"
            )
        else:
            text = (
                f"{self.words()}: no protected attribute could be fully checked (the limits "
                f"need groups of ≥ {self.min_group} test students)"
            )
        unchecked = by_status["not_checked"]
        if unchecked:
            text += ". Not fully checked: " + " | ".join(a.summary() for a in unchecked)
        return text


def _value(values: pd.Series, spread: bool) -> float | None:
    """The largest |value| (or, with ``spread``, max − min) of the defined values; None when
    there are too few (one for a gap, two for a spread)."""
    values = values.dropna()
    if len(values) < (2 if spread else 1):
        return None
    return float(values.max() - values.min()) if spread else float(values.abs().max())


def _check(
    metric: GateMetric, limit: float, rows: pd.DataFrame, gated: pd.Series, min_group: int
) -> GateCheck:
    """One limit on one attribute's reported groups (``gated`` marks those large enough)."""
    column, spread = ("roc_auc", True) if metric == "roc_auc_spread" else ("calibration_gap", False)
    name, needed = _METRIC_WORDS[metric], (2 if spread else 1)
    measured = _value(rows.loc[gated, column], spread)
    if measured is not None:
        passed = measured <= limit
        return GateCheck(
            metric=metric,
            limit=limit,
            status="checked_pass" if passed else "checked_fail",
            value=measured,
            over_limit=not passed,
            note=f"{name} {measured:.3f} {'≤' if passed else '>'} {limit}",
        )
    informational = _value(rows[column], spread)
    groups = "two groups" if needed == 2 else "a group"
    note = f"{name} not checked (needs {groups} of ≥ {min_group} test students)"
    if informational is not None:
        above = informational > limit
        note += f", measured {informational:.3f}" + (f", ABOVE the {limit} limit" if above else "")
    return GateCheck(
        metric=metric,
        limit=limit,
        status="not_checked",
        value=informational,
        over_limit=informational is not None and informational > limit,
        note=note,
    )


def _attribute_gate(
    attribute: str,
    table: pd.DataFrame,
    max_calibration_gap: float,
    max_auc_gap: float,
    min_group: int,
) -> AttributeGate:
    """The gate on one attribute's rows of a ``by_group`` table."""
    rows = table[table["attribute"] == attribute]
    reported = rows[~rows["suppressed"].astype(bool)]
    gated = reported["n"] >= min_group
    checks = [
        _check("calibration_gap", max_calibration_gap, reported, gated, min_group),
        _check("roc_auc_spread", max_auc_gap, reported, gated, min_group),
    ]
    statuses = {c.status for c in checks}
    status: GateStatus = (
        "checked_fail"
        if "checked_fail" in statuses
        else "checked_pass"
        if statuses == {"checked_pass"}
        else "not_checked"
    )
    groups = [
        GateGroup(group=str(r.group), n=int(r.n), gated=bool(r.n >= min_group and not r.suppressed))
        for r in rows.itertuples()
    ]
    return AttributeGate(attribute=attribute, status=status, groups=groups, checks=checks)


def fairness_gate(
    report: FairnessReport | None,
    attributes: list[str],
    max_calibration_gap: float,
    max_auc_gap: float,
    min_group: int,
) -> FairnessGate:
    """Judge a model's fairness report against the selection limits, attribute by attribute,
    on groups of at least ``min_group`` test students (smaller groups are too noisy to gate
    on: their gaps are reported, for information only)."""
    table = report.by_group if report is not None else pd.DataFrame(columns=BY_GROUP_COLUMNS)
    gates = [
        _attribute_gate(a, table, max_calibration_gap, max_auc_gap, min_group)
        for a in (attributes if report is not None else [])
    ]
    statuses = {g.status for g in gates}
    verdict: GateVerdict
    if "checked_fail" in statuses:
        verdict = "outside_limits"
    elif statuses == {"checked_pass"}:
        verdict = "within_limits"
    elif "checked_pass" in statuses:
        verdict = "partly_checked"
    else:
        verdict = "not_checked"
    return FairnessGate(
        verdict=verdict,
        min_group=min_group,
        max_calibration_gap=max_calibration_gap,
        max_auc_gap=max_auc_gap,
        attributes=gates,
    )
