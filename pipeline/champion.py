"""Champion/challenger: whether the model selected in this run replaces the registered
champion, or the champion is kept (and republished) instead."""

from __future__ import annotations

from dataclasses import dataclass

from data.spec import DatasetSpec
from pipeline import registry
from pipeline.evaluate import Evaluation, evaluate
from pipeline.model import RiskModel
from pipeline.registry import ChampionInfo
from pipeline.steps import SplitData
from pipeline.train import FittedCandidate
from sara.settings import Settings


@dataclass
class Decision:
    """``promote``: the selected model becomes the champion. Otherwise the champion is served
    and the ``served_*`` fields say which model, evaluated how, of which candidate family."""

    promote: bool
    reason: str
    served_model: RiskModel | None = None
    served_eval: Evaluation | None = None
    served_candidate: str | None = None


def decide(
    settings: Settings,
    current: ChampionInfo | None,
    same_model: bool,
    best: FittedCandidate,
    best_eval: Evaluation,
    split: SplitData,
    spec: DatasetSpec,
) -> Decision:
    """Champion/challenger: the new model replaces the champion unless the champion, scored on
    the same held-out students, is better by more than the tolerance."""
    if current is None:
        return Decision(True, "no champion yet: the selected model becomes the champion")
    incumbent = registry.load_version(settings.model_name, current.version)
    candidate = current.tags.get("candidate")
    if same_model:
        return Decision(
            False,
            f"champion v{current.version} was trained on this data and these "
            "settings; republishing it",
            incumbent,
            best_eval,
            candidate,
        )
    if list(getattr(incumbent, "features", [])) != list(best.model.features):
        return Decision(
            True, f"champion v{current.version} uses other features; the new model takes over"
        )
    groups = split.test[spec.protected].astype(str) if spec.protected else None
    score = incumbent.predict_proba(split.test)[:, 1]
    incumbent_eval = evaluate(
        f"champion v{current.version}",
        split.y_test,
        score,
        groups,
        settings.risk_high_threshold,
        settings.min_group_size,
    )
    new, old = best_eval.metrics["pr_auc"], incumbent_eval.metrics["pr_auc"]
    if new >= old - settings.champion_tolerance:
        return Decision(
            True,
            f"challenger PR-AUC {new:.4f} vs champion v{current.version} "
            f"{old:.4f} on the same test set: promoted",
        )
    return Decision(
        False,
        f"challenger PR-AUC {new:.4f} is below champion v{current.version} "
        f"{old:.4f} by more than {settings.champion_tolerance}: champion kept",
        incumbent,
        incumbent_eval,
        candidate,
    )
