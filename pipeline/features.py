"""Model inputs from the spec: which columns, and the preprocessing inside the model object.

Numbers (and 0/1 flags) pass through (scaled for linear models), ordered categories become
their rank, unordered categories are one-hot encoded with unseen values ignored. The mapping
from encoded columns back to spec columns lets explanations speak in the spec's terms."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from data.spec import DatasetSpec, Role


def model_features(spec: DatasetSpec, feature_set: str) -> list[str]:
    """The feature set's columns; refuses anything that would leak the outcome."""
    features = spec.features(feature_set)
    leaking = [f for f in features if spec.column(f).role == Role.OUTCOME_SOURCE]
    if leaking:  # the spec already refuses this; checked again where models are built
        raise ValueError(f"outcome-source columns cannot be model inputs: {leaking}")
    return features


def _groups(spec: DatasetSpec, features: list[str]) -> tuple[list[str], list[str], list[str]]:
    numeric = [f for f in features if spec.column(f).is_numeric]
    ordered = [f for f in features if spec.column(f).dtype == "category" and spec.column(f).ordered]
    nominal = [
        f for f in features if spec.column(f).dtype == "category" and not spec.column(f).ordered
    ]
    return numeric, ordered, nominal


def build_preprocessor(spec: DatasetSpec, features: list[str], scale: bool) -> ColumnTransformer:
    numeric, ordered, nominal = _groups(spec, features)
    ordinal = OrdinalEncoder(
        categories=[list(spec.column(f).categories) for f in ordered],
        handle_unknown="use_encoded_value",
        unknown_value=np.nan,
    )
    transformers = [
        ("num", StandardScaler() if scale else "passthrough", numeric),
        ("ord", make_pipeline(ordinal, StandardScaler()) if scale else ordinal, ordered),
        (
            "cat",
            OneHotEncoder(
                categories=[list(spec.column(f).categories) for f in nominal],
                handle_unknown="ignore",
                sparse_output=False,
                dtype=np.float64,
            ),
            nominal,
        ),
    ]
    return ColumnTransformer(
        [t for t in transformers if t[2]], verbose_feature_names_out=False, sparse_threshold=0
    )


def encoded_to_feature(spec: DatasetSpec, features: list[str]) -> list[str]:
    """For each encoded column (in the preprocessor's output order), its spec column."""
    numeric, ordered, nominal = _groups(spec, features)
    mapping = list(numeric) + list(ordered)
    for name in nominal:
        mapping += [name] * len(spec.column(name).categories)
    return mapping


def monotone_constraints(spec: DatasetSpec, features: list[str]) -> list[int]:
    """Per encoded column: the spec's monotone direction for the risk (0 = free)."""
    return [spec.column(f).monotone or 0 for f in encoded_to_feature(spec, features)]


def as_model_input(frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """The feature columns in model order, numbers as float (nullable ints become NaN)."""
    out = frame[features].copy(deep=False)
    for name in features:
        if out[name].dtype.kind in "iub" or str(out[name].dtype) in ("Int64", "Int8"):
            out[name] = out[name].astype("float64")
    return out
