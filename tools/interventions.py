"""compare_interventions: the model what-if of each intervention in the catalogue (how the
served model's risk changes when the intervention's moves are applied), beside the true effect
when the data is generated and an estimate from the observational data.

The catalogue and ``apply_moves`` live in data/catalogue.py (each dataset has its own); this
module scores the moves, and the planner reuses it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, model_validator

from data.catalogue import Catalogue, Intervention, apply_moves
from pipeline.model import risk_levels
from tools.base import ToolInput, ToolOutput, stamp
from tools.cohort import cohort_sql
from tools.context import ToolContext
from tools.errors import InvalidInput, NotFound
from tools.intervention_evidence import (
    SELECTED_ON_MEDIATORS,
    DataEstimate,
    Refutation,
    data_estimates,
    true_changes,
)

__all__ = [
    "CompareInput",
    "CompareOutput",
    "DataEstimate",
    "InterventionResult",
    "Refutation",
    "compare_interventions",
    "model_what_if",
    "select_cohort",
]

MAX_IDS = 100_000
MODEL_CAVEAT = "model what-if: how the model's score changes; not a causal estimate"


@dataclass(frozen=True)
class WhatIf:
    """Model risk of each student now, and after each intervention (same row order)."""

    risk_before: np.ndarray
    risk_after: dict[str, np.ndarray]


def model_what_if(
    frame: pd.DataFrame, interventions: list[Intervention], ctx: ToolContext
) -> WhatIf:
    """Score the students as they are and under each intervention: one vectorised model call
    per intervention, on the rows the intervention actually changes."""
    features = [f for f in ctx.model.features if f in frame.columns]
    base = frame[features]
    before = ctx.model.predict_proba(base)[:, 1]
    after = {}
    for iv in interventions:
        moved = apply_moves(base, iv, ctx.spec)
        changed = np.zeros(len(base), dtype=bool)
        for column in iv.moves:
            if column in features:
                old = pd.to_numeric(base[column]).to_numpy(dtype=float, na_value=np.nan)
                new = moved[column].to_numpy(dtype=float)
                changed |= ~((old == new) | (np.isnan(old) & np.isnan(new)))
        risk = before.copy()
        if changed.any():
            risk[changed] = ctx.model.predict_proba(moved[changed])[:, 1]
        after[iv.name] = risk
    return WhatIf(before, after)


def levels(risk: np.ndarray, ctx: ToolContext) -> np.ndarray:
    s = ctx.settings
    return risk_levels(risk, s.risk_medium_threshold, s.risk_high_threshold)


# --- cohort selection (shared with the planner) -------------------------------------------


class CohortSelection(ToolInput):
    """Which students: exactly one of ``student_ids``, ``filters`` or ``all_students``."""

    default_filters: ClassVar[dict[str, Any] | None] = None

    student_ids: list[str] | None = Field(
        default=None, description="Ids of students in the warehouse, exactly as stored."
    )
    filters: dict[str, Any] | None = Field(
        default=None,
        description="A cohort: column → value or list of values, e.g. {'<column>': <value>, "
        "'<other column>': [<value>, <value>]}; 'risk_level' filters on the served level "
        "(Low, Medium, High).",
    )
    all_students: bool = Field(default=False, description="True to take every student.")

    @model_validator(mode="after")
    def _one_selection(self) -> CohortSelection:
        given = sum([self.student_ids is not None, self.filters is not None, self.all_students])
        if given == 0 and self.default_filters is None:
            raise ValueError("give exactly one of student_ids, filters or all_students")
        if given > 1:
            raise ValueError(
                "give only one of student_ids, filters or all_students"
                + ("" if self.default_filters is None else f" (none: {self.default_filters})")
            )
        if self.student_ids is not None and not 0 < len(self.student_ids) <= MAX_IDS:
            raise ValueError(f"student_ids: give between 1 and {MAX_IDS:,} ids")
        if self.filters is not None and not self.filters:
            raise ValueError("filters: give at least one column, or all_students: true")
        return self

    def students_asked(self, id_column: str) -> list[str]:
        return list(self.student_ids or [])

    def describe(self) -> str:
        if self.student_ids is not None:
            return f"{len(self.student_ids)} listed student(s)"
        if self.all_students:
            return "all students"
        filters = self.filters if self.filters is not None else self.default_filters
        return ", ".join(f"{k} = {v}" for k, v in (filters or {}).items()) or "all students"


def select_cohort(
    selection: CohortSelection, ctx: ToolContext, columns: list[str] | None = None
) -> pd.DataFrame:
    """The selected students' warehouse rows (the id, ``columns`` or every column) with their
    stored risk_score and risk_level. Unknown ids are NotFound; an empty cohort InvalidInput."""
    id_col = ctx.id_column
    wanted = (
        "s.*"
        if columns is None
        else ", ".join(f's."{c}"' for c in dict.fromkeys([id_col, *columns]))
    )
    wanted += ", c.risk_score, c.risk_level"
    if selection.student_ids is not None:
        ids = list(dict.fromkeys(selection.student_ids))
        frame = ctx.sql(
            f'SELECT {wanted} FROM {ctx.scored_source} WHERE s."{id_col}" IN (SELECT unnest(?))',
            [ids],
        )
        missing = sorted(set(ids) - set(frame[id_col]))
        if missing:
            shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
            raise NotFound(f"no student with id {shown}", field="student_ids", value=missing[:5])
        return frame.set_index(id_col).loc[ids].reset_index()
    filters = None if selection.all_students else (selection.filters or selection.default_filters)
    query, params = cohort_sql(ctx, filters, columns=wanted)
    frame = ctx.sql(query + f' ORDER BY s."{id_col}"', params)
    if frame.empty:
        raise InvalidInput(
            f"no students match {selection.describe()}", field="filters", value=filters
        )
    return frame


def needed_columns(
    ctx: ToolContext, catalogue: Catalogue, interventions: list[Intervention]
) -> list[str]:
    """Warehouse columns the what-if and the data estimates read."""
    stored = set(ctx.sql("SELECT * FROM students LIMIT 0").columns)
    wanted = [
        *ctx.model.features,
        *catalogue.confounders,
        *(c for iv in interventions for c in iv.moves),
    ]
    return [c for c in dict.fromkeys(wanted) if c in stored]


# --- the tool --------------------------------------------------------------------------------


class CompareInput(CohortSelection):
    interventions: list[str] | None = Field(
        default=None,
        description="Names from the dataset's intervention catalogue to compare (default: all).",
    )


class InterventionResult(BaseModel):
    name: str
    title: str
    n_students: int
    mean_risk_before: float
    mean_risk_after: float
    expected_change: float = Field(description="Mean change in model risk (negative = lower).")
    change_ci95: tuple[float, float] = Field(
        description="95 % interval of the mean change over these students (normal "
        "approximation of the per-student differences)."
    )
    students_out_of_high: int = Field(description="Students at High now and not after.")
    cost_per_student: float
    cost_total: float
    cost_per_student_out_of_high: float | None
    evidence: str
    causal_note: str
    caveat: str = MODEL_CAVEAT
    true_change: float | None = Field(
        default=None,
        description="Generated data only: mean true change in the probability "
        "of the outcome under the intervention.",
    )
    data_estimate: DataEstimate | None = None
    data_estimate_note: str | None = None


class CompareOutput(ToolOutput):
    cohort: str
    n_students: int
    results: list[InterventionResult] = Field(
        description="One per intervention, ranked by expected risk reduction (largest first)."
    )
    ranking: list[str]
    truth_available: bool


def _result(
    iv: Intervention, before: np.ndarray, after: np.ndarray, ctx: ToolContext
) -> InterventionResult:
    n = len(before)
    diff = after - before
    mean = float(diff.mean())
    half = 1.96 * float(diff.std(ddof=1)) / np.sqrt(n) if n > 1 else 0.0
    out_of_high = int(((levels(before, ctx) == "High") & (levels(after, ctx) != "High")).sum())
    cost = iv.cost_per_student * n
    return InterventionResult(
        name=iv.name,
        title=iv.title,
        n_students=n,
        mean_risk_before=round(float(before.mean()), 5),
        mean_risk_after=round(float(after.mean()), 5),
        expected_change=round(mean, 5),
        change_ci95=(round(mean - half, 5), round(mean + half, 5)),
        students_out_of_high=out_of_high,
        cost_per_student=iv.cost_per_student,
        cost_total=cost,
        cost_per_student_out_of_high=round(cost / out_of_high, 2) if out_of_high else None,
        evidence=iv.evidence,
        causal_note=iv.causal_note,
    )


def compare_interventions(request: CompareInput, ctx: ToolContext) -> CompareOutput:
    """Compare the dataset's interventions (its catalogue) for a set of students: give
    student_ids, a cohort via filters (e.g. {'<column>': <value>, 'risk_level': 'High'}) or
    all_students. For each intervention: mean
    model risk before and after, the expected change with a 95 % interval, how many students
    leave High risk, total cost and cost per student moved out of High, and the evidence.
    These are model what-ifs (how the model's score changes), not causal estimates; on
    generated data the true effect is reported too, and where the data allows, an estimate
    from the observed data with a placebo check. Results are ranked by risk reduction."""
    catalogue = ctx.interventions()
    chosen = ctx.pick_interventions(request.interventions)
    cohort = select_cohort(request, ctx, needed_columns(ctx, catalogue, chosen))
    what_if = model_what_if(cohort, chosen, ctx)
    results = [_result(iv, what_if.risk_before, what_if.risk_after[iv.name], ctx) for iv in chosen]
    truth = true_changes(ctx, cohort[ctx.id_column].tolist(), [iv.name for iv in chosen])
    estimates = data_estimates(ctx, catalogue, chosen, cohort)
    selected_on_mediators = request.student_ids is not None or any(
        k == "risk_level" or k in ctx.spec.actionable for k in request.filters or {}
    )
    for result in results:
        if truth is not None:
            result.true_change = truth.get(result.name)
        result.data_estimate, result.data_estimate_note = estimates[result.name]
        if result.data_estimate is not None and selected_on_mediators:
            result.data_estimate.note = SELECTED_ON_MEDIATORS
    results.sort(key=lambda r: r.expected_change)
    return CompareOutput(
        cohort=request.describe(),
        n_students=len(cohort),
        results=results,
        ranking=[r.name for r in results],
        truth_available=truth is not None,
        **stamp(ctx),
    )
