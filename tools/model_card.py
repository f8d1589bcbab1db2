"""model_info: which model is serving, how good and how fair it is, and its limits."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, Field

from data.spec import Role
from tools.base import ToolInput, ToolOutput, stamp
from tools.context import ToolContext

LIMITS = [
    "Risk is not destiny: a score is a reason to look closer and help, never a verdict.",
    "Scores reflect association in past data, not causes; what-ifs are not promises.",
    "The model sees only the spec's columns; it cannot see what the data does not record.",
    "Re-validate after changes of population, grade span, policy or data definitions.",
]


class ModelInfoInput(ToolInput):
    pass


class GateCheckInfo(BaseModel):
    """One fairness limit on one protected attribute, and how it was judged."""

    metric: Literal["calibration_gap", "roc_auc_spread"]
    status: Literal["checked_pass", "checked_fail", "not_checked"]
    limit: float
    value: float | None = Field(
        description="Measured on groups large enough to gate on; when not checked, on every "
        "reported group, for information only."
    )
    note: str


class GateAttributeInfo(BaseModel):
    """The fairness gate on one protected attribute."""

    attribute: str
    status: Literal["checked_pass", "checked_fail", "not_checked"] = Field(
        description="checked_pass only when every limit was checked and met."
    )
    groups: dict[str, int] = Field(description="Test-set students per group.")
    checks: list[GateCheckInfo]


class FairnessGateInfo(BaseModel):
    """The served model's result at the selection's fairness gate."""

    verdict: Literal["within_limits", "partly_checked", "outside_limits", "not_checked"] = Field(
        description="not_checked: no protected attribute had groups large enough to check; "
        "never the same as within the limits."
    )
    summary: str = Field(description="The verdict and its grounds in plain words.")
    min_group: int = Field(description="Only groups this large in the test set are checked.")
    fallback: Literal["none", "kept_champion", "promoted_with_warning"] = Field(
        description="What happened when no candidate met the fairness limits."
    )
    fallback_words: str | None = None
    attributes: list[GateAttributeInfo]


def gate_info(record: str | None) -> FairnessGateInfo | None:
    """The served model's fairness gate from the warehouse metadata (None when the warehouse
    was built before the gate was recorded)."""
    if not record:
        return None
    gate = json.loads(record)
    return FairnessGateInfo(
        verdict=gate["verdict"],
        summary=gate["summary"],
        min_group=gate["min_group"],
        fallback=gate["fallback"],
        fallback_words=gate.get("fallback_words"),
        attributes=[
            GateAttributeInfo(
                attribute=a["attribute"],
                status=a["status"],
                groups={g["group"]: g["n"] for g in a["groups"]},
                checks=[
                    GateCheckInfo.model_validate(
                        c | {"value": None if c["value"] is None else round(c["value"], 4)}
                    )
                    for c in a["checks"]
                ],
            )
            for a in gate["attributes"]
        ],
    )


class ModelInfoOutput(ToolOutput):
    model_name: str
    candidate: str = Field(description="Model family of the champion, e.g. xgboost.")
    loaded_from: str
    trained_on: str
    students: int
    outcome: str
    outcome_rate: float
    feature_set: str
    features: list[str]
    never_inputs: list[str]
    metrics: dict[str, dict[str, float]] = Field(
        description="Held-out test metrics: the champion, the naive baseline and (on generated "
        "data) the oracle."
    )
    fairness: list[dict] = Field(description="Largest gaps by protected attribute.")
    fairness_gate: FairnessGateInfo | None = Field(
        default=None,
        description="The selection's fairness gate for this model: verdict, each protected "
        "attribute's status and group sizes, and the fallback taken if no candidate met the "
        "limits. None when the warehouse does not record it.",
    )
    thresholds: dict[str, float]
    limits: list[str]


def model_info(request: ModelInfoInput, ctx: ToolContext) -> ModelInfoOutput:
    """Describe the risk model in service: version, when and on what it was trained, its
    accuracy (ROC-AUC, PR-AUC, Brier) beside a naive baseline, its fairness across protected
    groups and whether the fairness gate could check it, the features it uses and never uses,
    and its limits."""
    meta, spec = ctx.meta, ctx.spec
    metrics = ctx.sql("SELECT model, metric, value FROM model_metrics")
    keep = {
        meta.get("candidate", ""),
        *[m for m in metrics["model"].unique() if m.startswith(("baseline", "oracle"))],
    }
    table = {
        ("champion" if model == meta.get("candidate") else model): {
            row.metric: round(float(row.value), 4)
            for row in group.itertuples()
            if row.metric in ("roc_auc", "pr_auc", "brier")
        }
        for model, group in metrics[metrics["model"].isin(keep)].groupby("model")
    }
    gaps = ctx.sql(
        "SELECT attribute, metric, max_gap, worst_group, best_group FROM fairness_gaps "
        "WHERE metric IN ('calibration_gap', 'tpr', 'roc_auc') AND "
        "position('×' IN attribute) = 0 ORDER BY attribute, metric"
    )
    outcome = ctx.sql(f'SELECT count(*) AS n, avg("{spec.outcome.name}") AS rate FROM students')
    never = spec.outcome_sources + spec.protected + spec.names_with_role(Role.EXCLUDED)
    return ModelInfoOutput(
        model_name=meta.get("model_name", ctx.settings.model_name),
        candidate=meta.get("candidate", ""),
        loaded_from=ctx.model_source,
        trained_on=meta.get("data_source", ""),
        students=int(outcome["n"].iloc[0]),
        outcome=spec.outcome.rule,
        outcome_rate=round(float(outcome["rate"].iloc[0]), 4),
        feature_set=meta.get("feature_set", ""),
        features=list(ctx.model.features),
        never_inputs=never,
        metrics=table,
        fairness=[
            {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
            for row in gaps.to_dict("records")
        ],
        fairness_gate=gate_info(meta.get("fairness_gate")),
        thresholds={
            "medium": ctx.settings.risk_medium_threshold,
            "high": ctx.settings.risk_high_threshold,
        },
        limits=LIMITS,
        **stamp(ctx),
    )
