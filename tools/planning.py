"""plan_interventions: who should get which intervention within a budget, from the model
what-if of tools/interventions.py, solved as a multiple-choice knapsack (tools/planning_solvers)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from data.catalogue import Intervention
from data.spec import DatasetSpec, Role
from pipeline import what_if as terms
from tools.base import ToolOutput, stamp
from tools.context import ToolContext
from tools.errors import InvalidInput
from tools.interventions import (
    MODEL_CAVEAT,
    CohortSelection,
    WhatIf,
    levels,
    model_what_if,
    select_cohort,
    stored_terms,
)
from tools.planning_solvers import (
    Problem,
    Solution,
    naive_plan,
    solve_counted,
    solve_exact,
    solve_greedy,
    solve_uniform,
)
from tools.policy import check_selection

EXACT_MAX_VARIABLES = 20_000
# The greedy plan is kept when its proven gap to the optimum is at most this share of the bound
# (0.1 %): the exact search would take seconds to close a gap no one could act on.
GREEDY_GAP_ENOUGH = 0.001
# … or when the gap is worth less than this much of the objective (0.05 of a student: an
# expected risk reduction of 0.05, or a twentieth of one student moved out of High)
GREEDY_GAP_TINY = 0.05
Objective = Literal["risk_reduction", "students_out_of_high"]


class EquityConstraint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    attribute: str = Field(
        description="Column whose groups are constrained (a category or whole-number column)."
    )
    min_share: dict[str, float] = Field(
        min_length=1,
        description="Group value → minimum share (0–1) of the treated students that must come "
        "from that group, e.g. {'1': 0.3}: at least 30 % of treated students are "
        "in SES quartile 1. Shares must add up to at most 1.",
    )

    @field_validator("min_share")
    @classmethod
    def _shares(cls, shares: dict[str, float]) -> dict[str, float]:
        if any(not 0 <= s <= 1 for s in shares.values()):
            raise ValueError("each min_share must be between 0 and 1")
        if sum(shares.values()) > 1 + 1e-9:
            raise ValueError(f"min_share values add up to {sum(shares.values()):g}, above 1")
        return shares


class PlanInput(CohortSelection):
    default_filters: ClassVar[dict[str, Any] | None] = {"risk_level": ["High", "Medium"]}

    budget: float = Field(gt=0, description="Money available, in USD per year.")
    interventions: list[str] | None = Field(
        default=None, description="Interventions the plan may use (default: all)."
    )
    capacity: dict[str, int] | None = Field(
        default=None,
        description="Most students each intervention can take, e.g. {'<intervention>': 40}.",
    )
    equity: EquityConstraint | None = Field(
        default=None, description="Optional minimum share of treated students from groups."
    )
    objective: Objective = Field(
        default="risk_reduction",
        description="'risk_reduction' (expected fewer students at risk, the sum of risk "
        "drops) or 'students_out_of_high' (students moved below the High level).",
    )

    @field_validator("capacity")
    @classmethod
    def _capacity(cls, capacity: dict[str, int] | None) -> dict[str, int] | None:
        if capacity and any(v < 0 for v in capacity.values()):
            raise ValueError("capacities must be 0 or more")
        return capacity


class Assignment(BaseModel):
    student_id: str
    intervention: str
    cost: float
    risk_before: float
    risk_after: float


class PlanTotals(BaseModel):
    students_treated: int
    cost: float
    expected_risk_reduction: float = Field(
        description="Sum over treated students of the drop in model risk (expected number of "
        "students fewer at risk, according to the model)."
    )
    expected_students_out_of_high: int


class InterventionUse(BaseModel):
    intervention: str
    students: int
    cost: float


class GroupShare(BaseModel):
    group: str
    min_share: float
    share: float = Field(description="Share of treated students from this group in the plan.")


class PlanOutput(ToolOutput):
    cohort: str
    n_students: int
    budget: float
    objective: Objective
    method: Literal["exact", "greedy"]
    optimality_gap: float = Field(
        description="(upper bound − plan) / upper bound on the objective; 0 when proven "
        "optimal. For students_out_of_high without an equity rule, on the number moved out of "
        "High (proven by a min-cost flow; the risk drops that break ties are filled greedily)."
    )
    totals: PlanTotals
    by_intervention: list[InterventionUse]
    naive: PlanTotals = Field(
        description="The 'highest risk first' plan: each student in "
        "order of risk gets the affordable intervention with "
        "the largest risk drop, until the budget runs out."
    )
    equity: list[GroupShare] | None = None
    assignments: list[Assignment]
    caveat: str = MODEL_CAVEAT

    def students_read(self, id_column: str) -> list[str]:
        return [a.student_id for a in self.assignments]


def _group_key(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return str(int(number)) if number.is_integer() else str(number)


def _check_equity(equity: EquityConstraint, spec: DatasetSpec) -> None:
    field = "equity.attribute"
    if equity.attribute not in spec.column_names:
        raise InvalidInput(
            f"{field}: unknown column {equity.attribute!r}", field=field, value=equity.attribute
        )
    column = spec.column(equity.attribute)
    if column.role not in (Role.PROTECTED, Role.CONTEXT, Role.ACTIONABLE) or (
        column.dtype == "float"
    ):
        raise InvalidInput(
            f"{field}: {equity.attribute!r} cannot define groups (use a "
            "category, yes/no or whole-number column)",
            field=field,
            value=equity.attribute,
        )
    allowed = set(column.categories) if column.categories else None
    for group in equity.min_share:
        if allowed is not None and group not in allowed:
            raise InvalidInput(
                f"equity.min_share: {group!r} is not a {equity.attribute} "
                f"value ({', '.join(column.categories)})",
                field="equity.min_share",
                value=group,
            )


def _validate(request: PlanInput, ctx: ToolContext) -> list[Intervention]:
    chosen = ctx.pick_interventions(request.interventions)
    names = [iv.name for iv in chosen]
    for name in request.capacity or {}:
        if name not in names:
            raise InvalidInput(
                f"capacity: {name!r} is not one of the plan's interventions ({', '.join(names)})",
                field="capacity",
                value=name,
            )
    cheapest = min(chosen, key=lambda iv: iv.cost_per_student)
    if request.budget < cheapest.cost_per_student:
        raise InvalidInput(
            f"budget: {request.budget:g} USD is below the cheapest intervention, "
            f"{cheapest.name} at {cheapest.cost_per_student:g} USD per student",
            field="budget",
            value=request.budget,
        )
    if request.equity is not None:
        _check_equity(request.equity, ctx.spec)
    return chosen


def _groups(request: PlanInput, cohort: pd.DataFrame) -> list[tuple[np.ndarray, float]]:
    if request.equity is None:
        return []
    keys = cohort[request.equity.attribute].map(_group_key).to_numpy()
    groups = []
    for group, share in request.equity.min_share.items():
        mask = keys == _group_key(group)
        if share > 0 and not mask.any():
            raise InvalidInput(
                f"equity.min_share: no student in the cohort has "
                f"{request.equity.attribute} = {group}",
                field="equity.min_share",
                value=group,
            )
        groups.append((mask, share))
    return groups


def _problem(
    request: PlanInput,
    chosen: list[Intervention],
    after: np.ndarray,
    what_if: WhatIf,
    cohort: pd.DataFrame,
    ctx: ToolContext,
) -> Problem:
    """The knapsack: per-student gains for the objective (``after`` is students × options)."""
    drop = what_if.risk_before[:, None] - after
    if request.objective == "students_out_of_high":
        high = levels(what_if.risk_before, ctx) == "High"
        out = high[:, None] & (levels(after.ravel(), ctx).reshape(after.shape) != "High")
        # a risk-drop tie-break too small to outweigh one student moved out of High
        weight = out + np.clip(drop, 0, None) / (len(drop) + 1)
    else:
        weight, out = drop, None
    capacity = np.array([float((request.capacity or {}).get(iv.name, np.inf)) for iv in chosen])
    cost = np.array([iv.cost_per_student for iv in chosen], dtype=float)
    groups = _groups(request, cohort)
    return Problem(weight, cost, float(request.budget), capacity, groups, counted=out)


def _totals(
    choice: np.ndarray,
    cost: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    ctx: ToolContext,
) -> PlanTotals:
    treated = np.flatnonzero(choice >= 0)
    options = choice[treated]
    now, then = before[treated], after[treated, options]
    out = (levels(now, ctx) == "High") & (levels(then, ctx) != "High")
    return PlanTotals(
        students_treated=len(treated),
        cost=float(cost[options].sum()),
        expected_risk_reduction=round(float((now - then).sum()), 4),
        expected_students_out_of_high=int(out.sum()),
    )


def _assignments(
    choice: np.ndarray,
    ids: np.ndarray,
    chosen: list[Intervention],
    before: np.ndarray,
    after: np.ndarray,
) -> list[Assignment]:
    treated = np.flatnonzero(choice >= 0)
    options = choice[treated]
    names = [iv.name for iv in chosen]
    costs = [iv.cost_per_student for iv in chosen]
    rows = zip(  # each column taken out of numpy at once: thousands of rows
        ids[treated].tolist(),
        options.tolist(),
        before[treated].tolist(),
        after[treated, options].tolist(),
        strict=True,
    )
    return [
        Assignment(
            student_id=student,
            intervention=names[j],
            cost=costs[j],
            risk_before=round(now, 4),
            risk_after=round(then, 4),
        )
        for student, j, now, then in rows
    ]


def _shares(request: PlanInput, problem: Problem, choice: np.ndarray) -> list[GroupShare] | None:
    if request.equity is None:
        return None
    treated = choice >= 0
    return [
        GroupShare(
            group=group,
            min_share=share,
            share=round(float(mask[treated].mean()) if treated.any() else 0.0, 4),
        )
        for (mask, _), (group, share) in zip(
            problem.groups, request.equity.min_share.items(), strict=True
        )
    ]


def _solve(problem: Problem) -> Solution:
    uniform = solve_uniform(problem)  # one price for every option: sorting is the optimum
    if uniform is not None:
        return uniform
    counted = solve_counted(problem)  # students moved out of High: a flow gives the most
    if counted is not None:
        return counted
    greedy = solve_greedy(problem)
    small = greedy.gap <= GREEDY_GAP_ENOUGH or greedy.bound * greedy.gap <= GREEDY_GAP_TINY
    if problem.weight.size > EXACT_MAX_VARIABLES or small:
        return greedy
    return solve_exact(problem, start=greedy)


def _what_if(
    request: PlanInput, chosen: list[Intervention], ctx: ToolContext
) -> tuple[pd.DataFrame, WhatIf]:
    """The cohort and its model what-ifs: stored at publish when the warehouse holds them for
    these interventions, else computed now."""
    columns = [] if request.equity is None else [request.equity.attribute]
    if stored_terms(ctx, chosen):
        after = {iv.name: terms.column(iv.name, "after") for iv in chosen}
        cohort = select_cohort(request, ctx, columns, [terms.BEFORE, *after.values()])
        return cohort, WhatIf(
            cohort[terms.BEFORE].to_numpy(dtype=float),
            {name: cohort[c].to_numpy(dtype=float) for name, c in after.items()},
        )
    columns += [*ctx.model.features, *(c for iv in chosen for c in iv.moves)]
    cohort = select_cohort(request, ctx, columns)
    return cohort, model_what_if(cohort, chosen, ctx)


def plan_interventions(request: PlanInput, ctx: ToolContext) -> PlanOutput:
    """Plan who gets which intervention within a budget (USD per year). Picks students (by
    default everyone at High or Medium risk; or student_ids, filters, all_students) and gives
    each at most one intervention to maximise the expected risk reduction (or the number of
    students moved out of High), respecting optional per-intervention capacities and an
    optional equity rule (minimum share of treated students from a group of one column).
    Solved greedily with a proven optimality gap; when that gap is above 0.1 % and the cohort
    is small, exactly.
    Also reports what the naive 'highest risk first' plan would achieve for the same money.
    Gains are model what-ifs, not causal estimates: see compare_interventions for the
    evidence behind each intervention."""
    check_selection(ctx.spec, request.filters)  # a plan selects students: never by protected
    chosen = _validate(request, ctx)
    cohort, what_if = _what_if(request, chosen, ctx)
    before = what_if.risk_before
    after = np.column_stack([what_if.risk_after[iv.name] for iv in chosen])
    problem = _problem(request, chosen, after, what_if, cohort, ctx)
    solution = _solve(problem)
    naive = naive_plan(problem, before[:, None] - after, before)
    choice = solution.choice
    counts = np.bincount(choice[choice >= 0], minlength=len(chosen))
    return PlanOutput(
        cohort=request.describe(),
        n_students=len(cohort),
        budget=request.budget,
        objective=request.objective,
        method=solution.method,
        optimality_gap=round(solution.gap, 6),
        totals=_totals(choice, problem.cost, before, after, ctx),
        by_intervention=[
            InterventionUse(
                intervention=iv.name, students=int(c), cost=float(c * iv.cost_per_student)
            )
            for iv, c in zip(chosen, counts, strict=True)
            if c
        ],
        naive=_totals(naive, problem.cost, before, after, ctx),
        equity=_shares(request, problem, choice),
        assignments=_assignments(
            choice, cohort[ctx.id_column].astype(str).to_numpy(), chosen, before, after
        ),
        **stamp(ctx),
    )
