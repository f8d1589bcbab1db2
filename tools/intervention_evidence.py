"""What compare_interventions sets beside the model what-if: the true effect (generated data
only, from the generator's truth sidecar) and an estimate from the observational data
(regression adjustment / g-computation with a placebo refutation). The per-student terms are
pipeline/what_if.py's; here they are summed up for a cohort, computed on request when the
warehouse holds none."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from data.catalogue import Catalogue, Intervention
from pipeline.what_if import (
    NOT_RECEIVED,
    PLACEBO_RUNS,
    confounders_for,
    effect_terms,
    true_terms,
    why_no_estimate,
)
from tools.context import ToolContext

__all__ = ["NOT_RECEIVED", "DataEstimate", "Evidence", "Refutation", "data_estimates"]

SELECTED_ON_MEDIATORS = (
    "this cohort was chosen by risk level, by an actionable column or by id, which the "
    "intervention itself can affect; the estimate only adjusts for the context columns, so it "
    "is an average for students like these in context and may understate the effect for them"
)
NO_COMPLETE_ROWS = "no student in this cohort has every column the estimate reads: no data estimate"
PLACEBO_FLOOR = 0.002
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


@dataclass
class Evidence:
    """The data estimate of one intervention over one cohort, before rounding: the cohort mean
    of the effect terms and of each placebo run's (or ``note``: why there is none)."""

    change: float | None = None
    placebos: list[float] = field(default_factory=list)
    n_used: int = 0
    kind: str = ""
    confounders: list[str] = field(default_factory=list)
    note: str | None = None

    def estimate(self, outcome: str) -> DataEstimate | None:
        if self.change is None:
            return None
        mean, spread = float(np.mean(self.placebos)), float(np.std(self.placebos, ddof=1))
        return DataEstimate(
            change=round(self.change, 5),
            method=f"{self.kind}: logistic outcome model of {outcome} on the treated column(s) "
            "and the confounders, fitted on every student in the warehouse; mean over the "
            "cohort of predicted risk with the moves minus without",
            confounders=self.confounders,
            n_used=self.n_used,
            refutation=Refutation(
                placebo_change=round(mean, 5),
                placebo_sd=round(spread, 5),
                passed=abs(mean) <= max(PLACEBO_FLOOR, 3 * spread / np.sqrt(PLACEBO_RUNS)),
                rule=PLACEBO_RULE,
            ),
        )


def true_changes(ctx: ToolContext, ids: list[str], names: list[str]) -> dict[str, float] | None:
    """Mean of true_risk_<name> − true_risk over the students, from the generator's truth
    sidecar of the cohort file the warehouse was built from; None when there is none."""
    terms = true_terms(ctx.meta.get("data_source"), ids, names)
    return {n: float(np.mean(v)) for n, v in terms.items()} if terms else None


def data_estimates(
    ctx: ToolContext, catalogue: Catalogue, chosen: list[Intervention], cohort: pd.DataFrame
) -> dict[str, Evidence]:
    """For each intervention, the estimate from the observed data over ``cohort``, fitting the
    outcome models now (or a note on why there is none)."""
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
    out: dict[str, Evidence] = {}
    for iv in chosen:
        note = why_no_estimate(iv, training, outcome)
        if note is not None:
            out[iv.name] = Evidence(note=note)
            continue
        confounders = confounders_for(iv, catalogue, columns)
        terms = effect_terms(training, cohort, iv, confounders, spec)
        if np.isnan(terms.effect).all():
            out[iv.name] = Evidence(note=NO_COMPLETE_ROWS)
            continue
        out[iv.name] = Evidence(
            float(np.nanmean(terms.effect)),
            [float(np.nanmean(p)) for p in terms.placebos],
            terms.n_used,
            terms.kind,
            confounders,
        )
    return out
