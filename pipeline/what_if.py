"""What each intervention in the catalogue would change, student by student, in terms whose mean
over any cohort is that cohort's answer — computed once at publish into the warehouse's
``what_if`` table, so comparing interventions for a student or a cohort, and planning them, are
aggregations rather than model calls and refits.

Per student and intervention:
- ``after``: the served model's risk with the intervention's moves applied (``before``: without);
- ``effect``: the data estimate's term — a logistic outcome model of the outcome on the treated
  column(s) and the confounders, fitted once on every student, predicts the student's risk with
  the moves minus without (g-computation / regression adjustment); its mean over a cohort is the
  cohort's estimate;
- ``placebo1..N``: the same with the treatment randomly permuted before the fit (the refutation);
- ``true``: on generated data, the generator's true change.

The tools compute the same terms on request when the warehouse has none for an intervention (a
catalogue changed since publish): tools/intervention_evidence.py."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import SplineTransformer

from data.catalogue import Catalogue, Intervention, apply_moves
from data.spec import DatasetSpec
from data.truth import read_truth, truth_path_for
from pipeline.model import RiskModel

META_KEY = "what_if"  # the build metadata entry describing the table (JSON)
BEFORE = "before"
NOT_RECEIVED = "no students in the data received it: no data estimate"
PLACEBO_RUNS = 5
PLACEBO_SEED = 20240601


def column(name: str, term: str) -> str:
    """The ``what_if`` column of intervention ``name``'s ``term`` (after, effect, placebo<k>,
    true)."""
    return f"{name}:{term}"


def placebo_terms() -> list[str]:
    return [f"placebo{k + 1}" for k in range(PLACEBO_RUNS)]


def digest(iv: Intervention, catalogue: Catalogue) -> str:
    """What the stored terms of ``iv`` depend on besides the model and the data: its moves and
    the catalogue's confounders. A served catalogue whose digest differs is computed afresh."""
    text = json.dumps(
        [
            iv.model_dump(mode="json", include={"name", "moves", "treatment_in_data"}),
            list(catalogue.confounders),
            PLACEBO_RUNS,
            PLACEBO_SEED,
        ],
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- the model what-if ---------------------------------------------------------------------


@dataclass(frozen=True)
class WhatIf:
    """Model risk of each student now, and after each intervention (same row order)."""

    risk_before: np.ndarray
    risk_after: dict[str, np.ndarray]


def model_what_if(
    model: RiskModel, frame: pd.DataFrame, interventions: list[Intervention], spec: DatasetSpec
) -> WhatIf:
    """Score the students as they are and under each intervention: one vectorised model call
    per intervention, on the rows the intervention actually changes."""
    features = [f for f in model.features if f in frame.columns]
    base = frame[features]
    before = model.predict_proba(base)[:, 1]
    after = {}
    for iv in interventions:
        moved = apply_moves(base, iv, spec)
        changed = np.zeros(len(base), dtype=bool)
        for name in iv.moves:
            if name in features:
                old = pd.to_numeric(base[name]).to_numpy(dtype=float, na_value=np.nan)
                new = moved[name].to_numpy(dtype=float)
                changed |= ~((old == new) | (np.isnan(old) & np.isnan(new)))
        risk = before.copy()
        if changed.any():
            risk[changed] = model.predict_proba(moved[changed])[:, 1]
        after[iv.name] = risk
    return WhatIf(before, after)


# --- the data estimate ---------------------------------------------------------------------


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
        for name in self.confounders:
            spec_col = self.spec.column(name)
            if spec_col.dtype == "category":
                codes = pd.Categorical(frame[name], categories=spec_col.categories).codes
                blocks.append((codes[:, None] == np.arange(len(spec_col.categories))) * 1.0)
            else:
                values = frame[name].to_numpy(dtype=float)
                blocks.append(((values - self.center[name]) / self.scale[name])[:, None])
        return np.hstack(blocks)

    def treatment(self, frame: pd.DataFrame) -> np.ndarray:
        blocks = []
        for name in self.treated:
            values = frame[[name]].to_numpy(dtype=float)
            spline = self.splines.get(name)
            blocks.append(values if spline is None else spline.transform(values))
        return np.hstack(blocks)


def _risk(
    context: np.ndarray, treatment: np.ndarray, target: np.ndarray
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Fit the logistic outcome model; returns its predicted risk as a function."""
    model = LogisticRegression(C=1.0, solver="newton-cholesky", max_iter=200)
    model.fit(np.hstack([context, treatment]), target)
    return lambda ctx_block, treat_block: model.predict_proba(np.hstack([ctx_block, treat_block]))[
        :, 1
    ]


@dataclass(frozen=True)
class EffectTerms:
    """The data estimate's per-student terms for the rows of a frame (NaN where a row lacks a
    column the estimate reads, so it is left out of every mean)."""

    effect: np.ndarray
    placebos: np.ndarray  # PLACEBO_RUNS × rows
    n_used: int  # students the outcome model was fitted on
    kind: str  # g-computation (yes/no treatments) or regression adjustment


def why_no_estimate(iv: Intervention, training: pd.DataFrame, outcome: str) -> str | None:
    """Why the data cannot estimate ``iv`` (None: it can)."""
    if not iv.treatment_in_data:
        return NOT_RECEIVED
    if outcome not in training.columns:
        return f"the warehouse has no {outcome} column: no data estimate"
    for name in iv.moves:
        if name not in training.columns:
            return f"{name} is not in the data: no data estimate"
        if training[name].nunique(dropna=True) < 2:
            return f"{name} does not vary in the data: no data estimate"
    return None


def confounders_for(iv: Intervention, catalogue: Catalogue, columns: list[str]) -> list[str]:
    return [c for c in catalogue.confounders if c in columns and c not in iv.moves]


def effect_terms(
    training: pd.DataFrame,
    rows: pd.DataFrame,
    iv: Intervention,
    confounders: list[str],
    spec: DatasetSpec,
) -> EffectTerms:
    """Fit the outcome model on ``training`` (every student) and the placebo models, and give
    each row of ``rows`` its terms."""
    treated = list(iv.moves)
    columns, outcome = [*confounders, *treated], spec.outcome.name
    train = training[[*columns, outcome]].dropna()
    target = train[outcome].to_numpy(dtype=int)
    design = _Design(spec, confounders, treated).fit(train)
    complete = rows[columns].notna().all(axis=1).to_numpy()
    present = rows.loc[complete, columns]
    context, train_context = design.context(present), design.context(train)
    now, moved = design.treatment(present), design.treatment(apply_moves(present, iv, spec))

    def terms(treatment: np.ndarray) -> np.ndarray:
        risk = _risk(train_context, treatment, target)
        out = np.full(len(rows), np.nan)
        out[complete] = risk(context, moved) - risk(context, now)
        return out

    effect = terms(design.treatment(train))
    rng = np.random.default_rng(PLACEBO_SEED)
    placebos = np.vstack(
        [
            terms(
                design.treatment(
                    train.assign(**{c: rng.permutation(train[c].to_numpy()) for c in treated})
                )
            )
            for _ in range(PLACEBO_RUNS)
        ]
    )
    bools = all(spec.column(c).dtype == "bool" for c in treated)
    return EffectTerms(
        effect, placebos, len(train), "g-computation" if bools else "regression adjustment"
    )


# --- the truth (generated data) --------------------------------------------------------------


def true_terms(source: str | None, ids: list[str], names: list[str]) -> dict[str, np.ndarray]:
    """Per student, true_risk_<name> − true_risk from the generator's truth sidecar of the
    cohort file ``source``; empty when there is none (or it does not cover these students)."""
    if not source:
        return {}
    truth = read_truth(
        truth_path_for(Path(source)), ["true_risk", *(f"true_risk_{n}" for n in names)]
    )
    if truth is None:
        return {}
    rows = truth.reindex(pd.Index(ids))
    if rows["true_risk"].isna().all():
        return {}
    return {
        n: (rows[f"true_risk_{n}"] - rows["true_risk"]).to_numpy(dtype=float)
        for n in names
        if f"true_risk_{n}" in rows.columns
    }


# --- the table -------------------------------------------------------------------------------


def build_table(
    model: RiskModel,
    frame: pd.DataFrame,
    spec: DatasetSpec,
    catalogue: Catalogue,
    ids: np.ndarray,
    source: str | None,
    progress: Callable[[str], None] = lambda _: None,
) -> tuple[pd.DataFrame, dict]:
    """Every student's terms for every intervention of ``catalogue`` (``frame`` holds the
    students with the outcome column), and the description kept in the build metadata."""
    interventions = list(catalogue.interventions)
    what_if = model_what_if(model, frame, interventions, spec)
    table: dict[str, np.ndarray] = {"student_id": ids, BEFORE: what_if.risk_before}
    described: dict[str, dict] = {}
    outcome = spec.outcome.name
    for iv in interventions:
        table[column(iv.name, "after")] = what_if.risk_after[iv.name]
        entry: dict = {"digest": digest(iv, catalogue), "note": None}
        note = why_no_estimate(iv, frame, outcome)
        if note is None:
            confounders = confounders_for(iv, catalogue, list(frame.columns))
            progress(f"data estimate of {iv.name}: outcome model and {PLACEBO_RUNS} placebos")
            terms = effect_terms(frame, frame, iv, confounders, spec)
            table[column(iv.name, "effect")] = terms.effect
            for k, term in enumerate(placebo_terms()):
                table[column(iv.name, term)] = terms.placebos[k]
            entry.update(n_used=terms.n_used, kind=terms.kind, confounders=confounders)
        else:
            entry["note"] = note
        described[iv.name] = entry
    truth = true_terms(source, [str(i) for i in ids], [iv.name for iv in interventions])
    for name, values in truth.items():
        table[column(name, "true")] = values
        described[name]["true"] = True
    return pd.DataFrame(table), {"interventions": described, "placebo_runs": PLACEBO_RUNS}


def read_description(meta: dict[str, str]) -> dict | None:
    """The ``what_if`` table's description from a warehouse's build metadata (None: no table)."""
    text = meta.get(META_KEY)
    return json.loads(text) if text else None
