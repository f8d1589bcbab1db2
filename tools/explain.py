"""explain_student: why a student's risk is what it is (exact SHAP contributions) and the
smallest change of actionable features that lowers their risk level, checked with the model."""

from __future__ import annotations

import itertools
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, model_validator

from data.spec import DatasetSpec
from pipeline.model import RISK_LEVELS, risk_levels
from pipeline.phrases import format_value
from pipeline.scoring import score_step
from tools.base import ToolInput, ToolOutput, record_ids, stamp
from tools.context import ToolContext
from tools.scoring import records_frame

GRID_STEPS = 12


class ExplainInput(ToolInput):
    student_id: str | None = Field(default=None, description="A student's id, exactly as stored.")
    record: dict[str, Any] | None = Field(
        default=None, description="A raw student record, for a student not in the warehouse."
    )

    @model_validator(mode="after")
    def _one(self) -> ExplainInput:
        if (self.student_id is None) == (self.record is None):
            raise ValueError("give exactly one of student_id or record")
        return self

    def students_asked(self, id_column: str) -> list[str]:
        return [self.student_id] if self.student_id else record_ids([self.record], id_column)

    def served_records(self) -> list[dict[str, Any]]:
        return [self.record] if self.record else []


class Contribution(BaseModel):
    feature: str
    label: str
    value: str = Field(description="The student's value, formatted.")
    contribution: float = Field(description="Log-odds added to the base value.")
    direction: Literal["raises risk", "lowers risk", "no effect"]


class Change(BaseModel):
    feature: str
    label: str
    current: str
    proposed: str


class Counterfactual(BaseModel):
    found: bool
    changes: list[Change]
    new_risk_score: float | None
    new_risk_level: str | None
    note: str


class ExplainOutput(ToolOutput):
    student_id: str | None
    risk_score: float
    risk_level: str
    base_value: float = Field(description="Log-odds of the average student.")
    raw_score: float = Field(description="base_value + sum of contributions (log-odds).")
    contributions: list[Contribution]
    top_risk_factors: list[str]
    counterfactual: Counterfactual

    def students_read(self, id_column: str) -> list[str]:
        return [self.student_id] if self.student_id else []


def _direction(value: float) -> str:
    if abs(value) < 1e-9:
        return "no effect"
    return "raises risk" if value > 0 else "lowers risk"


def _options(
    spec: DatasetSpec, names: list[str], row: pd.Series, spread: dict[str, float]
) -> list[list[tuple]]:
    """Per actionable feature: (new value, cost) options, the first being 'no change'.
    Numbers move in the direction that lowers risk (the spec's monotone sign)."""
    options = []
    for name in names:
        column, current = spec.column(name), row[name]
        if column.dtype == "bool":
            options.append([(current, 0.0), (1 - int(current), 1.0)])
            continue
        direction = -(column.monotone or -1)
        limit = column.max if direction > 0 else column.min
        sd = spread.get(name) or 1.0
        end = current + direction * 3 * sd if limit is None else limit
        end = min(end, current + 3 * sd) if direction > 0 else max(end, current - 3 * sd)
        steps = np.linspace(current, end, GRID_STEPS + 1)[1:]
        options.append(
            [(current, 0.0)]
            + [(float(v), abs(v - current) / sd) for v in steps if abs(v - current) > 1e-12]
        )
    return options


def counterfactual(row: pd.DataFrame, level: str, ctx: ToolContext) -> Counterfactual:
    """Search every combination of actionable changes on a grid and keep the cheapest one
    (in standard deviations, one per flipped yes/no) that the model puts at a lower level."""
    spec = ctx.spec
    if level == RISK_LEVELS[0]:
        return Counterfactual(
            found=False,
            changes=[],
            new_risk_score=None,
            new_risk_level=None,
            note="Already at the lowest risk level.",
        )
    names = [n for n in spec.actionable if n in ctx.model.features]
    if not names:
        return Counterfactual(
            found=False,
            changes=[],
            new_risk_score=None,
            new_risk_level=None,
            note=(
                f"No what-if is possible: spec {spec.name!r} marks none of the model's inputs "
                "as actionable (role: actionable), so there is nothing a change could move."
            ),
        )
    stats = ctx.sql(
        "SELECT " + ", ".join(f'stddev_pop("{n}") AS "{n}"' for n in names) + " FROM students"
    )
    spread = {n: float(stats[n].iloc[0]) for n in names}
    options = _options(spec, names, row.iloc[0], spread)
    combos = list(itertools.product(*options))
    grid = row.iloc[np.zeros(len(combos), dtype=int)].reset_index(drop=True)
    for j, name in enumerate(names):
        grid[name] = [combo[j][0] for combo in combos]
    cost = np.array([sum(c for _, c in combo) for combo in combos])
    risk = ctx.model.predict_proba(grid)[:, 1]
    new_levels = risk_levels(
        risk, ctx.settings.risk_medium_threshold, ctx.settings.risk_high_threshold
    )
    lower = np.array([RISK_LEVELS.index(v) < RISK_LEVELS.index(level) for v in new_levels])
    if not lower.any():
        return Counterfactual(
            found=False,
            changes=[],
            new_risk_score=None,
            new_risk_level=None,
            note="No change of the actionable factors within reach lowers "
            "the risk level; support beyond them is needed.",
        )
    best = min(np.flatnonzero(lower), key=lambda i: (cost[i], risk[i]))
    changes = [
        Change(
            feature=name,
            label=spec.column(name).display_name,
            current=format_value(spec.column(name), row.iloc[0][name]),
            proposed=format_value(spec.column(name), combos[best][j][0]),
        )
        for j, name in enumerate(names)
        if combos[best][j][1] > 0
    ]
    return Counterfactual(
        found=True,
        changes=changes,
        new_risk_score=round(float(risk[best]), 4),
        new_risk_level=str(new_levels[best]),
        note="Checked with the model: a what-if of its score, not a promise "
        "that the change alone would change the outcome.",
    )


def explain_student(request: ExplainInput, ctx: ToolContext) -> ExplainOutput:
    """Explain why a student is at their risk level: each factor's exact SHAP contribution
    (raises or lowers risk), the top risk factors in plain words, and the smallest change of
    actionable factors that would lower the level (none when the spec marks no input
    actionable; the counterfactual's note then says so)."""
    if request.student_id is not None:
        frame = ctx.students([request.student_id])
    else:
        frame = records_frame([request.record], ctx)
    scored = score_step(ctx.model, frame, ctx.spec, ctx.settings)
    contribs, level = scored.contribs, str(scored.levels[0])
    order = np.argsort(-np.abs(contribs.values[0]))
    rows = [
        Contribution(
            feature=name,
            label=ctx.spec.column(name).display_name,
            value=format_value(ctx.spec.column(name), frame.iloc[0][name]),
            contribution=round(float(contribs.values[0, j]), 4),
            direction=_direction(float(contribs.values[0, j])),
        )
        for j in order
        for name in [contribs.features[j]]
    ]
    return ExplainOutput(
        student_id=request.student_id,
        risk_score=round(float(scored.risk[0]), 4),
        risk_level=level,
        base_value=round(float(contribs.base_value[0]), 4),
        raw_score=round(float(contribs.raw_score[0]), 4),
        contributions=rows,
        top_risk_factors=[f["phrase"] for f in scored.factors[0]],
        counterfactual=counterfactual(frame, level, ctx),
        **stamp(ctx),
    )
