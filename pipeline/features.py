"""Model inputs from the spec: which columns, and the preprocessing inside the model object.

Numbers (and 0/1 flags) pass through (scaled for linear models), ordered categories become
their rank, unordered categories are one-hot encoded with unseen values ignored. A missing value
(a column the spec lets be empty) stays missing for tree models, which learn where it goes; for
linear models it takes the training mean (a missing category is all zeros in its one-hot).
The mapping from encoded columns back to spec columns lets explanations speak in the spec's
terms."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    OrdinalEncoder,
    StandardScaler,
)

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
        (
            "num",
            make_pipeline(_mean_for_missing(), StandardScaler()) if scale else "passthrough",
            numeric,
        ),
        (
            "ord",
            make_pipeline(ordinal, _mean_for_missing(), StandardScaler()) if scale else ordinal,
            ordered,
        ),
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


def _mean_for_missing() -> SimpleImputer:
    return SimpleImputer(strategy="mean", keep_empty_features=True)


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


Encoder = Callable[[Mapping[str, Sequence[Any]]], np.ndarray]


def compile_encoder(preprocessor: Any, features: list[str]) -> Encoder | None:
    """The fitted preprocessing as a plain function of columns of values (feature → list),
    reading every parameter (categories, means, scales) from the fitted transformers.

    scikit-learn's ColumnTransformer costs ~15 ms per call whatever the size, which dominates
    scoring one record; this does the same arithmetic in microseconds. Returns None for any
    transformer it does not know, and callers then use the preprocessor itself. Tests check
    both give the same matrix."""
    if not isinstance(preprocessor, ColumnTransformer):
        steps = getattr(preprocessor, "steps", None)
        if not steps or len(steps) != 1:
            return None
        preprocessor = steps[0][1]
    if not isinstance(preprocessor, ColumnTransformer):
        return None
    blocks = []
    for name, transformer, columns in preprocessor.transformers_:
        if name == "remainder":
            if transformer != "drop":
                return None
            continue
        block = _block(transformer, list(columns))
        if block is None:
            return None
        blocks.append(block)

    def encode(values: Mapping[str, Sequence[Any]]) -> np.ndarray:
        return np.hstack([block(values) for block in blocks])

    return encode


def _block(transformer: Any, columns: list[str]) -> Encoder | None:
    steps = transformer.steps if isinstance(transformer, Pipeline) else [transformer]
    if isinstance(steps[0], tuple):
        steps = [step for _, step in steps]
    first, rest = steps[0], steps[1:]
    if (isinstance(first, str) and first == "passthrough") or _identity(first):
        base = _numeric(columns)
    elif isinstance(first, StandardScaler | SimpleImputer):
        base, rest = _numeric(columns), steps
    elif isinstance(first, OrdinalEncoder) and first.handle_unknown == "use_encoded_value":
        base = _ordinal(first, columns)
    elif isinstance(first, OneHotEncoder) and first.drop_idx_ is None and not rest:
        base = _one_hot(first, columns)
    else:
        return None
    stages: list[tuple[str, Any, Any]] = []
    for step in rest:
        if isinstance(step, SimpleImputer) and step.strategy == "mean":
            stages.append(("fill", step.statistics_, None))
        elif isinstance(step, StandardScaler):
            mean = step.mean_ if step.with_mean else 0.0
            stages.append(("scale", mean, step.scale_ if step.with_std else 1.0))
        else:
            return None

    def block(values: Mapping[str, Sequence[Any]]) -> np.ndarray:
        out = base(values)
        for kind, first_arg, scale in stages:
            if kind == "fill":
                out = np.where(np.isnan(out), first_arg, out)
            else:
                out = (out - first_arg) / scale
        return out

    return block


def _identity(step: Any) -> bool:
    # A fitted ColumnTransformer holds "passthrough" as a FunctionTransformer without a func.
    return isinstance(step, FunctionTransformer) and step.func is None


def _numeric(columns: list[str]) -> Encoder:
    def encode(values):
        return np.column_stack([np.asarray(values[c], dtype=float) for c in columns])

    return encode


def _positions(categories: Sequence[Any], column: Sequence[Any]) -> np.ndarray:
    """Each value's index among ``categories`` (-1 when it is not one), for a whole column at
    once: Arrow's own lookup for a column of Arrow strings (ten times pandas' hashing), else
    pandas'."""
    arrow = getattr(getattr(column, "array", None), "_pa_array", None)
    if arrow is not None and all(isinstance(c, str) for c in categories):
        found = pc.index_in(arrow, value_set=pa.array(list(categories), type=arrow.type))
        return np.asarray(pc.fill_null(found, -1).to_numpy(), dtype=np.int64)
    return pd.Index(categories).get_indexer(pd.Index(column))


def _ordinal(encoder: OrdinalEncoder, columns: list[str]) -> Encoder:
    categories = list(encoder.categories_)
    unknown = float(encoder.unknown_value)

    def encode(values):
        parts = []
        for c, cats in zip(columns, categories, strict=True):
            at = _positions(cats, values[c])
            parts.append(np.where(at >= 0, at, unknown).astype(float))
        return np.column_stack(parts)

    return encode


def _one_hot(encoder: OneHotEncoder, columns: list[str]) -> Encoder:
    categories = list(encoder.categories_)

    def encode(values):
        parts = []
        for c, cats in zip(columns, categories, strict=True):
            at = _positions(cats, values[c])
            out = np.zeros((len(at), len(cats)))
            known = at >= 0  # unseen values are all zeros, as handle_unknown="ignore"
            out[np.flatnonzero(known), at[known]] = 1.0
            parts.append(out)
        return np.hstack(parts)

    return encode
