"""The one model object SARA trains, registers and serves: preprocessing + estimator +
calibration in a single scikit-learn estimator. Rows are encoded by the fitted preprocessor
or by the compiled encoder read from it (tested to give the same matrix)."""

from __future__ import annotations

import weakref

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from pipeline.features import as_model_input, compile_encoder

RISK_LEVELS = ("Low", "Medium", "High")


def risk_levels(risk: np.ndarray, medium: float, high: float) -> np.ndarray:
    """Low below ``medium``, Medium below ``high``, High at or above ``high``."""
    index = (np.asarray(risk) >= medium).astype(int) + (np.asarray(risk) >= high).astype(int)
    return np.asarray(RISK_LEVELS, dtype=object)[index]


class Calibrator(BaseEstimator):
    """Maps the estimator's raw log-odds to a calibrated probability (sigmoid or isotonic)."""

    def __init__(self, method: str = "sigmoid"):
        self.method = method

    def fit(self, raw: np.ndarray, y: np.ndarray) -> Calibrator:
        raw = np.asarray(raw, dtype=float)
        if self.method == "sigmoid":
            self.model_ = LogisticRegression(C=1e6).fit(raw.reshape(-1, 1), y)
        elif self.method == "isotonic":
            self.model_ = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(raw, y)
        else:
            raise ValueError(f"unknown calibration method {self.method!r}")
        return self

    def transform(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=float)
        if self.method == "sigmoid":
            return self.model_.predict_proba(raw.reshape(-1, 1))[:, 1]
        return self.model_.predict(raw)


# Compiled encoders by model (kept beside the model, never pickled with it).
_encoders: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_UNSET = object()


class RiskModel(ClassifierMixin, BaseEstimator):
    """A fitted pipeline (preprocess → estimator) plus its calibrator.

    ``predict_proba`` gives calibrated risk; ``raw_score`` the estimator's log-odds, the scale
    on which explanations add up exactly."""

    def __init__(
        self,
        pipeline: Pipeline,
        calibrator: Calibrator,
        features: list[str],
        encoded_features: list[str],
        background: np.ndarray,
        family: str,
        reference: dict[str, float],
    ):
        self.pipeline = pipeline
        self.calibrator = calibrator
        self.features = features
        self.encoded_features = encoded_features
        self.background = background
        self.family = family
        self.reference = reference
        self.classes_ = np.array([0, 1])

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """The rows through the model's preprocessing: the compiled encoder (the same matrix,
        several times faster; see ``compile_encoder``), or the preprocessor itself."""
        encoder = _encoders.get(self, _UNSET)
        if encoder is _UNSET:
            encoder = _encoders[self] = compile_encoder(self.pipeline[:-1], self.features)
        data = as_model_input(frame, self.features)
        if encoder is None:
            return self.pipeline[:-1].transform(data)
        return encoder({name: data[name] for name in self.features})

    def encode_with_preprocessor(self, frame: pd.DataFrame) -> np.ndarray:
        """The preprocessor's own matrix (what the compiled encoder is checked against)."""
        return self.pipeline[:-1].transform(as_model_input(frame, self.features))

    def raw_from_encoded(self, encoded: np.ndarray) -> np.ndarray:
        estimator = self.pipeline[-1]
        if self.family == "xgboost":
            return estimator.get_booster().inplace_predict(encoded, predict_type="margin")
        return estimator.decision_function(encoded)

    def raw_score(self, frame: pd.DataFrame) -> np.ndarray:
        return self.raw_from_encoded(self.encode(frame))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        risk = self.calibrator.transform(self.raw_score(frame))
        return np.column_stack([1 - risk, risk])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(frame)[:, 1] >= 0.5).astype(int)
