"""model_info: which model is serving, how good and how fair it is, and its limits."""

from __future__ import annotations

from pydantic import Field

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
    thresholds: dict[str, float]
    limits: list[str]


def model_info(request: ModelInfoInput, ctx: ToolContext) -> ModelInfoOutput:
    """Describe the risk model in service: version, when and on what it was trained, its
    accuracy (ROC-AUC, PR-AUC, Brier) beside a naive baseline, its fairness across protected
    groups, the features it uses and never uses, and its limits."""
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
        thresholds={
            "medium": ctx.settings.risk_medium_threshold,
            "high": ctx.settings.risk_high_threshold,
        },
        limits=LIMITS,
        **stamp(ctx),
    )
