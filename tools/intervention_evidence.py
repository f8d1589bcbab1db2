"""What compare_interventions sets beside the model what-if: the true effect (generated data
only, from the generator's truth sidecar) and an estimate from the observational data
(regression adjustment / g-computation with a placebo refutation)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import SplineTransformer

from data.catalogue import Catalogue, Intervention, apply_moves
from data.spec import DatasetSpec
from data.truth import read_truth, truth_path_for
from tools.context import ToolContext

NOT_RECEIVED = "no students in the data received it: no data estimate"
SELECTED_ON_MEDIATORS = (
    "this cohort was chosen by risk level, by an actionable column or by id, which the "
    "intervention itself can affect; the estimate only adjusts for the context columns, so it "
    "is an average for students like these in context and may understate the effect for them"
)
PLACEBO_RUNS = 5
PLACEBO_FLOOR = 0.002
PLACEBO_SEED = 20240601
PLACEBO_RULE = (
    f"the estimate is repeated with the treatment randomly permuted {PLACEBO_RUNS} times; "
    "passed when the mean placebo change is within 3 standard errors of 0 "
    f"(or within {PLACEBO_FLOOR})"
)


class Refutation(BaseModel):
    placebo_change: float = Field(
        description="Mean of the same estimate with the treatment randomly permuted; near 0 "
        "when the method is sound."
    )
    placebo_sd: float = Field(
        description="Spread of the placebo estimates: roughly the estimate's noise level; an "
        "estimate within about 2 of these of 0 is not distinguishable from no effect."
    )
    passed: bool
    rule: str


class DataEstimate(BaseModel):
    change: float = Field(description="Estimated mean change in risk from the observed data.")
    method: str
    confounders: list[str]
    n_used: int = Field(description="Students the outcome model was fitted on.")
    refutation: Refutation | None = None
    note: str | None = Field(
        default=None, description="A caveat on this estimate for this cohort, if any."
    )


def true_changes(ctx: ToolContext, ids: list[str], names: list[str]) -> dict[str, float] | None:
    """Mean of true_risk_<name> − true_risk over the students, from the generator's truth
    sidecar of the cohort file the warehouse was built from; None when there is none."""
    source = ctx.meta.get("data_source")
    if not source:
        return None
    columns = ["true_risk", *(f"true_risk_{n}" for n in names)]
    truth = read_truth(truth_path_for(Path(source)), columns)
    if truth is None:
        return None
    wanted = [n for n in names if f"true_risk_{n}" in truth.columns]
    rows = truth.reindex(pd.Index(ids))
    if rows["true_risk"].isna().all():
        return None
    return {n: float((rows[f"true_risk_{n}"] - rows["true_risk"]).mean()) for n in wanted}


class _Design:
    """Outcome-model inputs as a numeric matrix: confounders one-hot (categories) or
    standardised (numbers), then each treated column — 0/1 as is, a continuous one through a
    cubic spline so its effect need not be linear. Fitted on the training rows."""

    def __init__(self, spec: DatasetSpec, confounders: list[str], treated: list[str]):
        self.spec, self.confounders, self.treated = spec, confounders, treated

    def fit(self, frame: pd.DataFrame) -> _Design:
        numbers = [c for c in self.confounders if self.spec.column(c).dtype != "category"]
        values = frame[numbers].to_numpy(dtype=float)
        self.center = dict(zip(numbers, values.mean(axis=0), strict=True))
        self.scale = dict(zip(numbers, values.std(axis=0) + 1e-12, strict=True))
        self.splines = {
            c: SplineTransformer(n_knots=6, degree=3, extrapolation="linear").fit(
                frame[[c]].to_numpy(dtype=float)
            )
            for c in self.treated
            if self.spec.column(c).dtype != "bool"
        }
        return self

    def context(self, frame: pd.DataFrame) -> np.ndarray:
        blocks = [np.ones((len(frame), 0))]
        for column in self.confounders:
            spec_col = self.spec.column(column)
            if spec_col.dtype == "category":
                codes = pd.Categorical(frame[column], categories=spec_col.categories).codes
                blocks.append((codes[:, None] == np.arange(len(spec_col.categories))) * 1.0)
            else:
                values = frame[column].to_numpy(dtype=float)
                blocks.append(((values - self.center[column]) / self.scale[column])[:, None])
        return np.hstack(blocks)

    def treatment(self, frame: pd.DataFrame) -> np.ndarray:
        blocks = []
        for column in self.treated:
            values = frame[[column]].to_numpy(dtype=float)
            spline = self.splines.get(column)
            blocks.append(values if spline is None else spline.transform(values))
        return np.hstack(blocks)


def _risk(context: np.ndarray, treatment: np.ndarray, target: np.ndarray):
    """Fit the logistic outcome model; returns its predicted risk as a function."""
    model = LogisticRegression(C=1.0, solver="newton-cholesky", max_iter=200)
    model.fit(np.hstack([context, treatment]), target)
    return lambda ctx_block, treat_block: model.predict_proba(np.hstack([ctx_block, treat_block]))[
        :, 1
    ]


def _estimate(
    training: pd.DataFrame,
    cohort: pd.DataFrame,
    iv: Intervention,
    confounders: list[str],
    spec: DatasetSpec,
) -> DataEstimate:
    treated = list(iv.moves)
    columns, outcome = [*confounders, *treated], spec.outcome.name
    train = training[[*columns, outcome]].dropna()
    target = train[outcome].to_numpy(dtype=int)
    design = _Design(spec, confounders, treated).fit(train)
    rows = cohort[columns].dropna()
    context, train_context = design.context(rows), design.context(train)
    now, moved = design.treatment(rows), design.treatment(apply_moves(rows, iv, spec))

    def effect(treatment: np.ndarray) -> float:
        risk = _risk(train_context, treatment, target)
        return float(np.mean(risk(context, moved) - risk(context, now)))

    change = effect(design.treatment(train))
    rng = np.random.default_rng(PLACEBO_SEED)
    placebos = [
        effect(
            design.treatment(
                train.assign(**{c: rng.permutation(train[c].to_numpy()) for c in treated})
            )
        )
        for _ in range(PLACEBO_RUNS)
    ]
    mean, spread = float(np.mean(placebos)), float(np.std(placebos, ddof=1))
    kind = (
        "g-computation"
        if all(spec.column(c).dtype == "bool" for c in treated)
        else ("regression adjustment")
    )
    return DataEstimate(
        change=round(change, 5),
        method=f"{kind}: logistic outcome model of {outcome} on the treated column(s) and the "
        "confounders, fitted on every student in the warehouse; mean over the cohort of "
        "predicted risk with the moves minus without",
        confounders=confounders,
        n_used=len(train),
        refutation=Refutation(
            placebo_change=round(mean, 5),
            placebo_sd=round(spread, 5),
            passed=abs(mean) <= max(PLACEBO_FLOOR, 3 * spread / np.sqrt(PLACEBO_RUNS)),
            rule=PLACEBO_RULE,
        ),
    )


def _why_not(iv: Intervention, training: pd.DataFrame, outcome: str) -> str | None:
    if not iv.treatment_in_data:
        return NOT_RECEIVED
    if outcome not in training.columns:
        return f"the warehouse has no {outcome} column: no data estimate"
    for column in iv.moves:
        if column not in training.columns:
            return f"{column} is not in the data: no data estimate"
        if training[column].nunique(dropna=True) < 2:
            return f"{column} does not vary in the data: no data estimate"
    return None


def data_estimates(
    ctx: ToolContext, catalogue: Catalogue, chosen: list[Intervention], cohort: pd.DataFrame
) -> dict[str, tuple[DataEstimate | None, str | None]]:
    """For each intervention, an estimate from the observed data, or a note on why none."""
    spec = ctx.spec
    outcome = spec.outcome.name
    wanted = [iv for iv in chosen if iv.treatment_in_data]
    needed = list(dict.fromkeys([*catalogue.confounders, *(c for iv in wanted for c in iv.moves)]))
    stored = set(ctx.sql("SELECT * FROM students LIMIT 0").columns)
    columns = [c for c in needed if c in stored]
    if outcome not in stored or not wanted:
        training = pd.DataFrame(columns=columns)
    else:
        training = ctx.sql(
            "SELECT " + ", ".join(f'"{c}"' for c in [*columns, outcome]) + " FROM students"
        )
    out: dict[str, tuple[DataEstimate | None, str | None]] = {}
    for iv in chosen:
        note = _why_not(iv, training, outcome)
        if note is not None:
            out[iv.name] = (None, note)
            continue
        confounders = [c for c in catalogue.confounders if c in columns and c not in iv.moves]
        out[iv.name] = (_estimate(training, cohort, iv, confounders, spec), None)
    return out
