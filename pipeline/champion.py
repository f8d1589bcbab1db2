"""Champion/challenger: whether the model selected in this run replaces the registered
champion, or the champion is kept (and republished) instead.

When no candidate met the fairness limits, ``fairness_fallback`` decides: ``keep_champion``
(the default) keeps the registered champion in service, and only when there is none (or it
cannot score this data) is the selected model promoted, with a warning; ``promote_with_warning``
lets the selected model through the usual challenger comparison, with a warning. Either way
the decision says, in plain words, which happened."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from data.spec import DatasetSpec
from pipeline import registry
from pipeline.evaluate import Evaluation, evaluate, gate
from pipeline.fairness_gate import FairnessGate
from pipeline.model import RiskModel
from pipeline.registry import ChampionInfo
from pipeline.steps import SplitData
from pipeline.train import FittedCandidate
from sara.settings import Settings

# What happened because no candidate met the fairness limits ("none": some candidate did).
FallbackOutcome = Literal["none", "kept_champion", "promoted_with_warning"]
NO_CANDIDATE_MET = "NO candidate met the fairness limits"


@dataclass
class Decision:
    """``promote``: the selected model becomes the champion. Otherwise the champion is served
    and the ``served_*`` fields say which model, evaluated how, of which candidate family.
    ``fairness_fallback`` says what happened when no candidate met the fairness limits, and
    ``served_gate`` is the fairness gate of the model that will be served, on this test set."""

    promote: bool
    reason: str
    served_model: RiskModel | None = None
    served_eval: Evaluation | None = None
    served_candidate: str | None = None
    fairness_fallback: FallbackOutcome = "none"
    served_gate: FairnessGate | None = None


def _gate(settings: Settings, spec: DatasetSpec, evaluation: Evaluation) -> FairnessGate:
    return gate(
        evaluation,
        spec.protected,
        settings.fairness_max_calibration_gap,
        settings.fairness_max_auc_gap,
        settings.fairness_gate_min_group,
    )


def _warned(decision: Decision, settings: Settings) -> Decision:
    """The decision taken although no candidate met the fairness limits, saying so."""
    decision.fairness_fallback = "promoted_with_warning" if decision.promote else "kept_champion"
    setting = f"SARA_FAIRNESS_FALLBACK={settings.fairness_fallback}"
    if decision.promote:
        decision.reason = (
            f"WARNING: {NO_CANDIDATE_MET}, yet the selected model is promoted ({setting}): "
            f"{decision.reason}"
        )
    else:
        decision.reason = f"{NO_CANDIDATE_MET} ({setting}): {decision.reason}"
    return decision


def decide(
    settings: Settings,
    current: ChampionInfo | None,
    same_model: bool,
    best: FittedCandidate,
    best_eval: Evaluation,
    split: SplitData,
    spec: DatasetSpec,
    best_gate: FairnessGate | None = None,
) -> Decision:
    """Champion/challenger: the new model replaces the champion unless the champion, scored on
    the same held-out students, is better by more than the tolerance. ``best_gate`` is the
    selected model's fairness gate; when it failed (no candidate met the limits) the
    ``fairness_fallback`` setting applies."""
    failed = best_gate is not None and best_gate.failed
    decision = _decide(settings, current, same_model, best, best_eval, split, spec, failed)
    if decision.served_gate is None:
        decision.served_gate = best_gate
    return _warned(decision, settings) if failed else decision


def _decide(
    settings: Settings,
    current: ChampionInfo | None,
    same_model: bool,
    best: FittedCandidate,
    best_eval: Evaluation,
    split: SplitData,
    spec: DatasetSpec,
    unfair: bool,
) -> Decision:
    if current is None:
        if unfair and settings.fairness_fallback == "keep_champion":
            return Decision(True, "there is no champion to keep, so it becomes the champion")
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
    features = list(getattr(incumbent, "features", []))
    keep = unfair and settings.fairness_fallback == "keep_champion"
    if features != list(best.model.features) and not keep:
        return Decision(
            True, f"champion v{current.version} uses other features; the new model takes over"
        )
    missing = [f for f in features if f not in split.test.columns]
    if missing:
        return Decision(
            True,
            f"champion v{current.version} cannot score this data (no "
            f"{', '.join(missing)}), so there is no champion to keep; the new model takes over",
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
    incumbent_gate = _gate(settings, spec, incumbent_eval)
    if keep:
        return Decision(
            False,
            f"champion v{current.version} stays in service; on this test set it is "
            f"{incumbent_gate.summary()}",
            incumbent,
            incumbent_eval,
            candidate,
            served_gate=incumbent_gate,
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
        served_gate=incumbent_gate,
    )


def fallback_words(decision: Decision, settings: Settings) -> str | None:
    """What happened because no candidate met the fairness limits, in a few plain words;
    None when some candidate met them."""
    setting = f"SARA_FAIRNESS_FALLBACK={settings.fairness_fallback}"
    if decision.fairness_fallback == "kept_champion":
        return f"so the current champion stays in service ({setting})"
    if decision.fairness_fallback == "promoted_with_warning":
        return f"so the selected model was promoted WITH A WARNING ({setting})"
    return None


def fairness_record(decision: Decision, settings: Settings) -> dict[str, object]:
    """The served model's fairness gate and the fallback taken, as plain JSON values: what
    the warehouse metadata carries to `sara pipeline status` and the model_info tool."""
    served = decision.served_gate
    return {
        "verdict": served.verdict if served else "not_checked",
        "summary": served.summary() if served else "no fairness gate was run",
        "fallback": decision.fairness_fallback,
        "fallback_setting": settings.fairness_fallback,
        "fallback_words": fallback_words(decision, settings),
        "min_group": settings.fairness_gate_min_group,
        "max_calibration_gap": settings.fairness_max_calibration_gap,
        "max_auc_gap": settings.fairness_max_auc_gap,
        "attributes": [a.model_dump(mode="json") for a in served.attributes] if served else [],
    }
