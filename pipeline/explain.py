"""Exact feature contributions (SHAP values) of a ``RiskModel``, on the log-odds scale where
they add up: base value + contributions = the model's raw score, for every student.

- linear models: ``coef · (x − mean)`` in the encoded space (exact interventional SHAP);
- XGBoost: XGBoost's own TreeSHAP (``pred_contribs``), identical to ``shap.TreeExplainer``;
- other tree models: ``shap.TreeExplainer``.
Encoded columns (one-hot levels) are summed back to the spec column they came from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.model import RiskModel

CHUNK_ROWS = 50_000


@dataclass
class Contributions:
    """``values[i, j]``: contribution of ``features[j]`` to student i's raw score."""

    features: list[str]
    values: np.ndarray
    base_value: np.ndarray

    @property
    def raw_score(self) -> np.ndarray:
        return self.base_value + self.values.sum(axis=1)


def _aggregate(model: RiskModel, encoded_values: np.ndarray) -> np.ndarray:
    index = {name: i for i, name in enumerate(model.features)}
    columns = np.array([index[name] for name in model.encoded_features])
    out = np.zeros((encoded_values.shape[0], len(model.features)))
    np.add.at(out.T, columns, encoded_values.T)
    return out


def _encoded_contributions(model: RiskModel, encoded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    estimator = model.pipeline[-1]
    if model.family == "linear":
        coef = estimator.coef_.ravel()
        values = (encoded - model.background) * coef
        base = float(estimator.intercept_[0] + model.background @ coef)
        return values, np.full(len(encoded), base)
    if model.family == "xgboost":
        from xgboost import DMatrix

        contribs = estimator.get_booster().predict(DMatrix(encoded), pred_contribs=True)
        return contribs[:, :-1], contribs[:, -1]
    import shap

    explainer = shap.TreeExplainer(estimator)
    values = np.asarray(explainer.shap_values(encoded))
    if values.ndim == 3:
        values = values[..., 1]
    return values, np.full(len(encoded), float(np.ravel(explainer.expected_value)[-1]))


def contributions(model: RiskModel, frame: pd.DataFrame) -> Contributions:
    """Contributions for every row of ``frame`` (computed in chunks to bound memory)."""
    parts = [
        contributions_from_encoded(
            model, np.asarray(model.encode(frame.iloc[start : start + CHUNK_ROWS]), dtype=float)
        )
        for start in range(0, len(frame), CHUNK_ROWS)
    ]
    if not parts:
        return Contributions(list(model.features), np.zeros((0, len(model.features))), np.zeros(0))
    return Contributions(
        list(model.features),
        np.vstack([p.values for p in parts]),
        np.concatenate([p.base_value for p in parts]),
    )


def contributions_from_encoded(model: RiskModel, encoded: np.ndarray) -> Contributions:
    """Contributions of rows already encoded by the model's preprocessing."""
    encoded_values, base = _encoded_contributions(model, encoded)
    return Contributions(list(model.features), _aggregate(model, encoded_values), base)
