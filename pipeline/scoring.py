"""Score and explain students with the served model: what the tools need at request time.
Serving imports this module, never training, evaluation or the data generator; the pipeline's
publish step uses the same function, so the warehouse and the tools score alike."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.spec import DatasetSpec
from pipeline.explain import Contributions, contributions, contributions_from_encoded
from pipeline.model import RiskModel, risk_levels
from pipeline.phrases import top_risk_factors
from sara.settings import Settings


@dataclass
class Scored:
    risk: np.ndarray
    levels: np.ndarray
    contribs: Contributions
    factors: list[list[dict]]


def score_step(
    model: RiskModel,
    frame: pd.DataFrame | Mapping[str, Sequence],
    spec: DatasetSpec,
    settings: Settings,
    encoded: np.ndarray | None = None,
) -> Scored:
    """Score and explain every student with the served model. ``encoded``: the rows already
    through the model's preprocessing (then ``frame`` may be plain columns of values)."""
    contribs = (
        contributions(model, frame)
        if encoded is None
        else contributions_from_encoded(model, encoded)
    )
    risk = model.calibrator.transform(contribs.raw_score)
    levels = risk_levels(risk, settings.risk_medium_threshold, settings.risk_high_threshold)
    factors = top_risk_factors(spec, frame, contribs, model.reference, settings.top_factors)
    return Scored(risk, levels, contribs, factors)
