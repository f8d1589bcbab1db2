"""The dataset spec: every column's type, allowed values and role, the outcome rule and the
feature sets. Loaded from YAML; the invariants (no leakage, no protected inputs by default)
are enforced when the spec is built, so an unsafe spec cannot exist."""

from __future__ import annotations

import operator
import re
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sara.errors import UserError

BUILTIN_SPEC = "student_performance"


class SpecError(UserError, ValueError):
    """A spec file that cannot be read or breaks a rule of the data contract."""


class Role(StrEnum):
    ID = "id"
    OUTCOME_SOURCE = "outcome_source"
    PROTECTED = "protected"
    ACTIONABLE = "actionable"
    CONTEXT = "context"
    EXCLUDED = "excluded"


DType = Literal["int", "float", "category", "bool", "string"]

_OPERATORS = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_CONDITION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|==|!=|<|>)\s*(-?[0-9.]+)\s*$")


class Condition(BaseModel):
    model_config = ConfigDict(frozen=True)
    column: str
    op: str
    value: float

    def evaluate(self, frame: pd.DataFrame) -> np.ndarray:
        values = pd.to_numeric(frame[self.column], errors="coerce").to_numpy(dtype=float)
        return _OPERATORS[self.op](values, self.value)

    def __str__(self) -> str:
        return f"{self.column} {self.op} {self.value:g}"


class OutcomeSpec(BaseModel):
    """The outcome is a rule on outcome-source columns, e.g. ``GPA < 2.0``; conditions may be
    joined by a single kind of connective (``or`` / ``and``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = "at_risk"
    rule: str
    description: str = ""

    @property
    def connective(self) -> Literal["or", "and"]:
        return "and" if re.search(r"\band\b", self.rule) else "or"

    @property
    def conditions(self) -> tuple[Condition, ...]:
        parts = re.split(r"\b(?:and|or)\b", self.rule)
        parsed = []
        for part in parts:
            match = _CONDITION.match(part)
            if not match:
                raise SpecError(
                    f"outcome.rule: cannot read {part.strip()!r} in {self.rule!r}; "
                    "write conditions like 'GPA < 2.0' joined by 'or' or 'and'"
                )
            parsed.append(Condition(column=match[1], op=match[2], value=float(match[3])))
        return tuple(parsed)

    @field_validator("rule")
    @classmethod
    def _one_connective(cls, rule: str) -> str:
        if re.search(r"\band\b", rule) and re.search(r"\bor\b", rule):
            raise ValueError(f"outcome.rule {rule!r} mixes 'and' and 'or'; use one connective")
        return rule

    def label(self, frame: pd.DataFrame) -> np.ndarray:
        """The outcome (1 = at risk) for each row of ``frame``."""
        masks = [c.evaluate(frame) for c in self.conditions]
        combine = np.logical_and if self.connective == "and" else np.logical_or
        result = masks[0]
        for mask in masks[1:]:
            result = combine(result, mask)
        return result.astype(np.int8)


class ColumnSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    dtype: DType
    role: Role
    required: bool = True
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] | None = None
    ordered: bool = False
    label: str | None = None
    format: Literal["percent", "hours", "number"] | None = None
    # -1: risk must not rise as this value rises (1: must not fall); tree models are
    # constrained accordingly, and behavioural tests check it.
    monotone: Literal[-1, 1] | None = None
    # How a teacher would say it when this column raises a student's risk: "low" applies
    # below the average (or to 0 / no), "high" above it (or to 1 / yes); {value} is filled in.
    phrases: dict[Literal["low", "high"], str] = Field(default_factory=dict)
    description: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> ColumnSpec:
        if self.dtype == "category" and not self.categories:
            raise ValueError(f"column {self.name}: a category column needs 'categories'")
        if self.dtype != "category" and self.categories:
            raise ValueError(f"column {self.name}: 'categories' only applies to dtype category")
        if self.dtype not in ("int", "float") and (self.min is not None or self.max is not None):
            raise ValueError(f"column {self.name}: min/max only apply to int or float columns")
        if self.monotone is not None and self.dtype not in ("int", "float", "bool"):
            raise ValueError(f"column {self.name}: monotone only applies to numeric columns")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"column {self.name}: min {self.min} is above max {self.max}")
        return self

    @property
    def display_name(self) -> str:
        return self.label or self.name

    @property
    def is_numeric(self) -> bool:
        return self.dtype in ("int", "float", "bool")


class DatasetSpec(BaseModel):
    """A dataset's contract. Construction refuses leaky or unsafe feature sets."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    description: str = ""
    id_column: str | None = None
    id_prefix: str = "S"
    outcome: OutcomeSpec
    allow_protected_features: bool = False
    columns: tuple[ColumnSpec, ...] = Field(min_length=1)
    feature_sets: dict[str, tuple[str, ...]] = Field(min_length=1)

    @model_validator(mode="after")
    def _contract(self) -> DatasetSpec:
        names = [c.name for c in self.columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"columns declared twice: {', '.join(dupes)}")
        by_name = {c.name: c for c in self.columns}
        ids = [c.name for c in self.columns if c.role == Role.ID]
        if len(ids) > 1:
            raise ValueError(f"only one id column is allowed, found {', '.join(ids)}")
        if self.id_column is not None and ids != [self.id_column]:
            raise ValueError(f"id_column {self.id_column!r} must be declared with role 'id'")
        if self.id_column is None and ids:
            raise ValueError(f"column {ids[0]} has role 'id' but id_column is not set")
        for cond in self.outcome.conditions:
            column = by_name.get(cond.column)
            if column is None:
                raise ValueError(
                    f"outcome.rule uses {cond.column!r}, which is not a declared column"
                )
            if column.role != Role.OUTCOME_SOURCE:
                raise ValueError(
                    f"outcome.rule uses {cond.column!r}; it must have role 'outcome_source' "
                    f"(it has {column.role.value!r}) so it can never be a model input"
                )
            if not column.is_numeric:
                raise ValueError(f"outcome.rule column {cond.column!r} must be numeric")
        for set_name, features in self.feature_sets.items():
            if not features:
                raise ValueError(f"feature set {set_name!r} is empty")
            for feature in features:
                column = by_name.get(feature)
                if column is None:
                    raise ValueError(f"feature set {set_name!r} names unknown column {feature!r}")
                if column.role == Role.OUTCOME_SOURCE:
                    raise ValueError(
                        f"feature set {set_name!r} contains {feature!r}, an outcome-source "
                        "column: that would leak the label into the model"
                    )
                if column.role in (Role.ID, Role.EXCLUDED):
                    raise ValueError(
                        f"feature set {set_name!r} contains {feature!r}, whose role "
                        f"{column.role.value!r} keeps it out of every model"
                    )
                if column.role == Role.PROTECTED and not self.allow_protected_features:
                    raise ValueError(
                        f"feature set {set_name!r} contains protected column {feature!r}; "
                        "set allow_protected_features: true to use it deliberately"
                    )
        return self

    def column(self, name: str) -> ColumnSpec:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def names_with_role(self, role: Role) -> list[str]:
        return [c.name for c in self.columns if c.role == role]

    @property
    def protected(self) -> list[str]:
        return self.names_with_role(Role.PROTECTED)

    @property
    def actionable(self) -> list[str]:
        return self.names_with_role(Role.ACTIONABLE)

    @property
    def outcome_sources(self) -> list[str]:
        return self.names_with_role(Role.OUTCOME_SOURCE)

    def features(self, feature_set: str) -> list[str]:
        try:
            return list(self.feature_sets[feature_set])
        except KeyError:
            known = ", ".join(self.feature_sets)
            raise SpecError(
                f"feature set {feature_set!r} is not in spec {self.name!r} (known: {known})"
            ) from None


def load_spec(path: str | Path | None = None) -> DatasetSpec:
    """Load a spec from YAML; ``None`` gives the built-in public-schema spec."""
    if path is None:
        text = resources.files("data.specs").joinpath(f"{BUILTIN_SPEC}.yaml").read_text("utf-8")
        source = f"built-in spec {BUILTIN_SPEC}"
    else:
        path = Path(path)
        if not path.is_file():
            raise SpecError(f"spec file {path} does not exist")
        text = path.read_text("utf-8")
        source = str(path)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"{source} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise SpecError(
            f"{source} must be a YAML mapping with name, outcome, columns, feature_sets"
        )
    try:
        return DatasetSpec.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'spec'}: {err['msg']}"
            for err in exc.errors()
        )
        raise SpecError(f"{source} breaks the data contract: {problems}") from None
