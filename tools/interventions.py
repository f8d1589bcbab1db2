"""compare_interventions: the model what-if of each intervention in the catalogue (how the
served model's risk changes when the intervention's moves are applied), beside the true effect
when the data is generated and an estimate from the observational data.

The catalogue and ``apply_moves`` live in data/catalogue.py (each dataset has its own). Every
student's terms are computed at publish (pipeline/what_if.py), so a cohort's comparison is one
aggregation over the warehouse (``stored_changes``); an intervention the warehouse holds no
terms for (a catalogue changed since publish) is computed on request (``request_changes``),
which gives the same figures. The planner reuses the cohort selection and the what-ifs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, model_validator

from data.catalogue import Catalogue, Intervention
from pipeline import what_if as terms
from pipeline.model import risk_levels
from pipeline.warehouse import WHAT_IF, quote
from pipeline.what_if import WhatIf
from tools.base import ToolInput, ToolOutput, stamp
from tools.cohort import FILTERS_HELP, describe_filters, where_clause
from tools.context import ToolContext
from tools.errors import InvalidInput, NotFound
from tools.intervention_evidence import (
    NO_COMPLETE_ROWS,
    SELECTED_ON_MEDIATORS,
    DataEstimate,
    Evidence,
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


def model_what_if(
    frame: pd.DataFrame, interventions: list[Intervention], ctx: ToolContext
) -> WhatIf:
    """Score the students as they are and under each intervention (pipeline/what_if.py)."""
    return terms.model_what_if(ctx.model, frame, interventions, ctx.spec)


def levels(risk: np.ndarray, ctx: ToolContext) -> np.ndarray:
    s = ctx.settings
    return risk_levels(risk, s.risk_medium_threshold, s.risk_high_threshold)


def stored_terms(ctx: ToolContext, chosen: list[Intervention]) -> bool:
    """Whether the warehouse holds the per-student terms of every intervention in ``chosen``
    as the served catalogue defines them (a catalogue changed since publish is computed on
    request)."""
    described = ctx.what_if_terms
    if described is None:
        return False
    catalogue = ctx.interventions()
    kept = described["interventions"]
    return all(
        iv.name in kept and kept[iv.name]["digest"] == terms.digest(iv, catalogue) for iv in chosen
    )


# --- cohort selection (shared with the planner) -------------------------------------------


class CohortSelection(ToolInput):
    """Which students: exactly one of ``student_ids``, ``filters`` or ``all_students``."""

    default_filters: ClassVar[dict[str, Any] | None] = None

    student_ids: list[str] | None = Field(
        default=None, description="Ids of students in the warehouse, exactly as stored."
    )
    filters: dict[str, Any] | None = Field(
        default=None,
        description=f"A cohort: {FILTERS_HELP}.",
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
        return describe_filters(filters) or "all students"


def _cohort_where(selection: CohortSelection, ctx: ToolContext) -> tuple[str, list[Any]]:
    """The WHERE clause (over ``s`` and ``c``) that selects the students of ``selection``."""
    if selection.student_ids is not None:
        ids = list(dict.fromkeys(selection.student_ids))
        return f"WHERE s.{quote(ctx.id_column)} IN (SELECT unnest(?))", [ids]
    filters = None if selection.all_students else (selection.filters or selection.default_filters)
    return where_clause(ctx.spec, filters)


def _no_such(selection: CohortSelection, found: list[str]) -> NotFound:
    missing = sorted(set(selection.student_ids or []) - set(found))
    shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
    return NotFound(f"no student with id {shown}", field="student_ids", value=missing[:5])


def _empty(selection: CohortSelection) -> InvalidInput:
    filters = None if selection.all_students else (selection.filters or selection.default_filters)
    return InvalidInput(f"no students match {selection.describe()}", field="filters", value=filters)


def select_cohort(
    selection: CohortSelection,
    ctx: ToolContext,
    columns: list[str] | None = None,
    stored: list[str] | None = None,
) -> pd.DataFrame:
    """The selected students' warehouse rows (the id, ``columns`` or every column) with their
    stored risk_score and risk_level, and the ``stored`` columns of their intervention terms
    (``what_if``), in the order asked (ids) or by id (a cohort). Unknown ids are NotFound; an
    empty cohort InvalidInput."""
    id_col = ctx.id_column
    wanted = (
        "s.*"
        if columns is None
        else ", ".join(f"s.{quote(c)}" for c in dict.fromkeys([id_col, *columns]))
    )
    wanted += ", c.risk_score, c.risk_level"
    wanted += "".join(f", w.{quote(c)}" for c in stored or [])
    source = ctx.scored_source if stored is None else ctx.what_if_source
    where, params = _cohort_where(selection, ctx)
    if selection.student_ids is not None:
        frame = ctx.sql(f"SELECT {wanted} FROM {source} {where}", params)
        ids = params[0]
        if len(frame) < len(ids):
            raise _no_such(selection, frame[id_col].tolist())
        return frame.set_index(id_col).loc[ids].reset_index()
    frame = ctx.sql(f"SELECT {wanted} FROM {source} {where} ORDER BY s.{quote(id_col)}", params)
    if frame.empty:
        raise _empty(selection)
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


# --- one intervention over one cohort ---------------------------------------------------------


@dataclass
class CohortChange:
    """What compare_interventions reports of one intervention over one cohort, before rounding:
    from the stored terms (``stored_changes``) or computed on request (``request_changes``),
    which agree to rounding error."""

    n: int
    before: float  # mean model risk now
    after: float  # mean model risk after the moves
    sd: float  # spread (ddof 1) of the per-student change; 0 for one student
    out_of_high: int  # students at High now and not after
    evidence: Evidence
    true: float | None = None

    @property
    def change(self) -> float:
        return self.after - self.before


@dataclass
class CohortChanges:
    n: int
    changes: dict[str, CohortChange]
    truth_available: bool


def request_changes(
    selection: CohortSelection, chosen: list[Intervention], ctx: ToolContext
) -> CohortChanges:
    """Every term computed now: the model on the cohort's rows, the outcome models refitted."""
    catalogue = ctx.interventions()
    cohort = select_cohort(selection, ctx, needed_columns(ctx, catalogue, chosen))
    what_if = model_what_if(cohort, chosen, ctx)
    before = what_if.risk_before
    truth = true_changes(ctx, cohort[ctx.id_column].tolist(), [iv.name for iv in chosen])
    estimates = data_estimates(ctx, catalogue, chosen, cohort)
    high = levels(before, ctx) == "High"
    changes = {}
    for iv in chosen:
        after = what_if.risk_after[iv.name]
        changes[iv.name] = CohortChange(
            n=len(before),
            before=float(before.mean()),
            after=float(after.mean()),
            sd=float((after - before).std(ddof=1)) if len(before) > 1 else 0.0,
            out_of_high=int((high & (levels(after, ctx) != "High")).sum()),
            evidence=estimates[iv.name],
            true=None if truth is None else truth.get(iv.name),
        )
    return CohortChanges(len(cohort), changes, truth is not None)


def stored_changes(
    selection: CohortSelection, chosen: list[Intervention], ctx: ToolContext
) -> CohortChanges:
    """The same from the terms stored at publish: one aggregation over the cohort's rows."""
    described = ctx.what_if_terms["interventions"]
    high = repr(float(ctx.settings.risk_high_threshold))
    before = "w.before"
    parts = ["count(*)", f"avg({before})"]
    for iv in chosen:
        kept = described[iv.name]
        after = f"w.{quote(terms.column(iv.name, 'after'))}"
        parts += [
            f"avg({after})",
            f"coalesce(stddev_samp({after} - {before}), 0)",
            f"count_if({before} >= {high} AND {after} < {high})",
        ]
        if kept["note"] is None:
            effect = [terms.column(iv.name, t) for t in ["effect", *terms.placebo_terms()]]
            parts += [f"count(w.{quote(effect[0])})"]
            parts += [f"avg(w.{quote(c)})" for c in effect]
        if kept.get("true"):
            parts.append(f"avg(w.{quote(terms.column(iv.name, 'true'))})")
    where, params = _cohort_where(selection, ctx)
    source = ctx.what_if_source
    if selection.student_ids is not None:  # the terms table alone: no scan of the students
        source, where = f"{WHAT_IF} w", "WHERE w.student_id IN (SELECT unnest(?))"
    row = iter(
        ctx.connection()
        .execute(f"SELECT {', '.join(parts)} FROM {source} {where}", params)
        .fetchone()
    )
    n, mean_before = next(row), next(row)
    if selection.student_ids is not None and n < len(params[0]):
        found = ctx.sql(f"SELECT w.student_id FROM {source} {where}", params)
        raise _no_such(selection, found["student_id"].tolist())
    if n == 0:
        raise _empty(selection)
    changes = {}
    for iv in chosen:
        kept = described[iv.name]
        after, sd, out = next(row), next(row), next(row)
        if kept["note"] is not None:
            evidence = Evidence(note=kept["note"])
        else:
            n_effect, change = next(row), next(row)
            placebos = [next(row) for _ in terms.placebo_terms()]
            evidence = (
                Evidence(note=NO_COMPLETE_ROWS)
                if n_effect == 0
                else Evidence(change, placebos, kept["n_used"], kept["kind"], kept["confounders"])
            )
        true = next(row) if kept.get("true") else None
        changes[iv.name] = CohortChange(n, mean_before, after, sd, int(out), evidence, true)
    truth = any(entry.get("true") for entry in described.values())
    return CohortChanges(n, changes, truth)


def cohort_changes(
    selection: CohortSelection, chosen: list[Intervention], ctx: ToolContext
) -> CohortChanges:
    """From the stored terms when the warehouse holds them for every intervention chosen."""
    if stored_terms(ctx, chosen):
        return stored_changes(selection, chosen, ctx)
    return request_changes(selection, chosen, ctx)


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


def _result(iv: Intervention, change: CohortChange, ctx: ToolContext) -> InterventionResult:
    n, mean = change.n, change.change
    half = 1.96 * change.sd / np.sqrt(n)
    cost = iv.cost_per_student * n
    out = change.out_of_high
    return InterventionResult(
        name=iv.name,
        title=iv.title,
        n_students=n,
        mean_risk_before=round(change.before, 5),
        mean_risk_after=round(change.after, 5),
        expected_change=round(mean, 5),
        change_ci95=(round(mean - half, 5), round(mean + half, 5)),
        students_out_of_high=out,
        cost_per_student=iv.cost_per_student,
        cost_total=cost,
        cost_per_student_out_of_high=round(cost / out, 2) if out else None,
        evidence=iv.evidence,
        causal_note=iv.causal_note,
        true_change=change.true,
        data_estimate=change.evidence.estimate(ctx.spec.outcome.name),
        data_estimate_note=change.evidence.note,
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
    chosen = ctx.pick_interventions(request.interventions)
    found = cohort_changes(request, chosen, ctx)
    results = [_result(iv, found.changes[iv.name], ctx) for iv in chosen]
    selected_on_mediators = request.student_ids is not None or any(
        k == "risk_level" or k in ctx.spec.actionable for k in request.filters or {}
    )
    for result in results:
        if result.data_estimate is not None and selected_on_mediators:
            result.data_estimate.note = SELECTED_ON_MEDIATORS
    results.sort(key=lambda r: r.expected_change)
    return CompareOutput(
        cohort=request.describe(),
        n_students=found.n,
        results=results,
        ranking=[r.name for r in results],
        truth_available=found.truth_available,
        **stamp(ctx),
    )
