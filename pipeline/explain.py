"""Exact feature contributions (SHAP values) of a ``RiskModel``, on the log-odds scale where
they add up: base value + contributions = the model's raw score, for every student.

- linear models: ``coef · (x − mean)`` in the encoded space (exact interventional SHAP);
- XGBoost and scikit-learn's histogram gradient boosting: path-dependent TreeSHAP compiled into
  tables once per model (``pipeline.treeshap``), the same values as XGBoost's ``pred_contribs``
  and ``shap.TreeExplainer``, summed straight into the spec's columns;
- anything else (or trees the compiled form does not support): ``pred_contribs`` for XGBoost,
  ``shap.TreeExplainer`` for the rest.
Encoded columns (one-hot levels) are summed back to the spec column they came from."""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

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


def _columns(model: RiskModel) -> np.ndarray:
    """For each encoded column, the index of the spec column it encodes."""
    index = {name: i for i, name in enumerate(model.features)}
    return np.array([index[name] for name in model.encoded_features])


def _aggregate(model: RiskModel, encoded_values: np.ndarray) -> np.ndarray:
    out = np.zeros((encoded_values.shape[0], len(model.features)))
    np.add.at(out.T, _columns(model), encoded_values.T)
    return out


_bases: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _forest(model: RiskModel) -> tuple[Any, float] | None:
    """The model's compiled trees (a ``pipeline.treeshap.Forest``) and its base value, or None
    (not a supported tree model)."""
    if model.family not in ("xgboost", "hist_gb"):
        return None
    from pipeline import treeshap  # numba: imported when a tree model is first explained

    forest = treeshap.compile_forest(
        model.pipeline[-1], model.family, _columns(model), len(model.features)
    )
    if forest is None:
        return None
    base = _bases.get(forest)
    if base is None:
        # The raw score of nothing known: the trees' expected value plus the model's own offset
        # (XGBoost's base margin, scikit-learn's baseline): the model's raw score on any row
        # less that row's contributions.
        row = np.zeros((1, len(model.encoded_features)))
        base = _bases[forest] = float(model.raw_from_encoded(row)[0] - forest.explain(row).sum())
    return forest, base


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


def prepare(model: RiskModel) -> None:
    """Compile the model's trees now (serving does this as it loads a model, so no request pays
    for it); finding the base value runs the one-row kernel once, which loads it."""
    _forest(model)


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
    compiled = _forest(model) if len(encoded) else None
    if compiled is not None:
        forest, base = compiled
        values = forest.explain(encoded)
        return Contributions(list(model.features), values, np.full(len(encoded), base))
    encoded_values, base = _encoded_contributions(model, encoded)
    return Contributions(list(model.features), _aggregate(model, encoded_values), base)
