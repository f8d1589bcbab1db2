"""The dataset spec: every column's type, allowed values, role and the words staff use for it,
the row key (one id column, a composite id, or generated ids), the outcome rule and the
feature sets. Loaded from YAML; the invariants (no leakage, no protected inputs by default,
a readable outcome rule on declared values) are enforced when the spec is built, so an unsafe
spec cannot exist."""

from __future__ import annotations

import difflib
import hashlib
import re
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from data.ids import REPEAT_MARK, UNSAFE_ID
from data.outcome_rule import (
    Condition,
    OutcomeSpec,
    conditions_of,
)
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


class ColumnSpec(BaseModel):
    """One column: its type, allowed values, role, and the words people use for it."""

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
    # Other words staff use for this column (e.g. "deprivation", "imd").
    synonyms: tuple[str, ...] = ()
    # A stored value -> the words for it (e.g. R -> rural); keys are declared categories,
    # whole numbers within min/max, or true/false, by dtype.
    value_labels: dict[str, str] = Field(default_factory=dict)
    # Include this column (not protected) in equity summaries, beside the protected ones.
    equity: bool = False

    @field_validator("synonyms")
    @classmethod
    def _synonyms(cls, synonyms: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        cleaned = tuple(s.strip() for s in synonyms)
        if any(not s for s in cleaned):
            raise ValueError(f"column {info.data.get('name')}: synonyms must not be empty words")
        return cleaned

    @field_validator("value_labels", mode="before")
    @classmethod
    def _label_keys_as_text(cls, labels: object) -> object:
        # YAML reads `1:` as a number and `true:` as a boolean; the keys are stored values as
        # text, so "1" and "true".
        if not isinstance(labels, dict):
            return labels
        return {(str(k).lower() if isinstance(k, bool) else str(k)): v for k, v in labels.items()}

    @field_validator("value_labels")
    @classmethod
    def _label_keys(cls, labels: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        if not labels:
            return labels
        name, dtype = info.data.get("name"), info.data.get("dtype")
        out = {}
        for key, words in labels.items():
            if dtype == "category":
                categories = info.data.get("categories") or ()
                if key not in categories:
                    raise ValueError(
                        f"column {name}: value_labels key {key!r} is not one of its "
                        f"categories ({', '.join(categories)})"
                    )
                out[key] = words
            elif dtype == "int":
                out[_int_label_key(name, key, info.data.get("min"), info.data.get("max"))] = words
            elif dtype == "bool":
                if key.strip().lower() not in ("true", "false"):
                    raise ValueError(
                        f"column {name}: value_labels key {key!r} must be true or false "
                        "(a yes/no column)"
                    )
                out[key.strip().lower()] = words
            else:
                raise ValueError(
                    f"column {name}: value_labels only apply to category, int or bool columns "
                    f"(it is {dtype}; key {key!r})"
                )
        return out

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
        if self.role == Role.ID and self.dtype != "string":
            raise ValueError(
                f"column {self.name}: an id column must have dtype string (it has "
                f"{self.dtype}): ids are kept as text, with their leading zeros"
            )
        if self.equity and self.role in (Role.ID, Role.OUTCOME_SOURCE, Role.EXCLUDED):
            raise ValueError(
                f"column {self.name}: equity: true is refused on a column with role "
                f"{self.role.value!r}; equity summaries group by context, actionable or "
                "protected columns"
            )
        return self

    @property
    def display_name(self) -> str:
        return self.label or self.name

    def words_for(self, value: object) -> str | None:
        """The spec's words for a stored value (``value_labels``), or None when it has none."""
        if not self.value_labels or value is None:
            return None
        if self.dtype == "bool" or isinstance(value, bool):
            key = "true" if bool(value) else "false"
        elif self.dtype == "int":
            try:
                key = str(int(float(value)))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                return None
        else:
            key = str(value)
        return self.value_labels.get(key)

    @property
    def is_numeric(self) -> bool:
        return self.dtype in ("int", "float", "bool")


def _int_label_key(name: str | None, key: str, low: float | None, high: float | None) -> str:
    """A value_labels key of an int column, as the whole number it names ("01" -> "1")."""
    if not re.fullmatch(r"\s*-?\d+\s*", key):
        raise ValueError(f"column {name}: value_labels key {key!r} must be a whole number")
    number = int(key)
    if (low is not None and number < low) or (high is not None and number > high):
        limits = ", ".join(f"{n} {v:g}" for n, v in (("min", low), ("max", high)) if v is not None)
        raise ValueError(f"column {name}: value_labels key {key!r} is outside {limits}")
    return str(number)


def _unsafe_text(what: str, value: str, also: str = "") -> None:
    """Refuse a spec value that would end up inside ids (a prefix, a separator)."""
    bad = UNSAFE_ID.search(value) or (also and also in value)
    if bad:
        raise ValueError(
            f"{what} {value!r} is refused: ids appear in URL paths, so they must not contain "
            f"'/'{f' or {also!r}' if also else ''} or control characters"
        )


class DatasetSpec(BaseModel):
    """A dataset's contract. Construction refuses leaky or unsafe feature sets.

    Rows are identified by one string column, ``key_column``: the id column itself when one
    is declared (``id_column: StudentID``); ``key_name`` (default ``record_id``) when the id is
    composite (``id_column: [id_student, code_module, code_presentation]``, the parts joined
    by ``key_separator``) or when no id column is declared (ids are then generated as
    ``id_prefix`` + row number). ``id_column`` (a property) is that same single key column;
    the declared parts are ``id_parts``."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_by_name=True, validate_by_alias=True
    )
    name: str
    description: str = ""
    id_parts: tuple[str, ...] = Field(default=(), alias="id_column")
    id_prefix: str = "S"
    key_name: str = "record_id"
    key_separator: str = ":"
    repeated_ids: Literal["reject", "enrolments"] = "reject"
    outcome: OutcomeSpec
    allow_protected_features: bool = False
    columns: tuple[ColumnSpec, ...] = Field(min_length=1)
    feature_sets: dict[str, tuple[str, ...]] = Field(min_length=1)
    # The intervention catalogue's YAML; relative paths are read from the spec's folder.
    interventions: str | None = None

    @field_validator("id_parts", mode="before")
    @classmethod
    def _id_parts(cls, value: object) -> object:
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list | tuple) and not value:
            raise ValueError(
                "id_column is an empty list; name the id column(s), or leave id_column out "
                "to have ids generated"
            )
        return value

    @field_serializer("id_parts")
    def _id_column_as_written(self, parts: tuple[str, ...]) -> str | list[str] | None:
        return parts[0] if len(parts) == 1 else (list(parts) or None)

    @field_validator("interventions")
    @classmethod
    def _interventions_path(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if not value.strip():
            raise ValueError("interventions is empty; give the catalogue's path or leave it out")
        path = Path(value.strip()).expanduser()
        base = (info.context or {}).get("base_dir")
        if base is not None and not path.is_absolute():
            path = (Path(base) / path).resolve()
        return str(path)

    @model_validator(mode="after")
    def _contract(self) -> DatasetSpec:
        names = [c.name for c in self.columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"columns declared twice: {', '.join(dupes)}")
        by_name = {c.name: c for c in self.columns}
        self._check_ids(by_name)
        self._check_outcome(by_name)
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

    def _check_ids(self, by_name: dict[str, ColumnSpec]) -> None:
        parts = self.id_parts
        repeated = sorted({p for p in parts if parts.count(p) > 1})
        if repeated:
            raise ValueError(f"id_column names {', '.join(repeated)} more than once")
        for part in parts:
            column = by_name.get(part)
            if column is None:
                raise ValueError(f"id_column names {part!r}, which is not a declared column")
            if column.role != Role.ID:
                raise ValueError(f"id_column {part!r} must be declared with role 'id'")
            if len(parts) > 1 and not column.required:
                raise ValueError(
                    f"column {part}: a part of a composite id_column must be required "
                    "(a row without it has no key)"
                )
        for column in self.columns:
            if column.role == Role.ID and column.name not in parts:
                where = "is not in id_column" if parts else "id_column is not set"
                raise ValueError(f"column {column.name} has role 'id' but {where}")
        _unsafe_text("id_prefix", self.id_prefix)
        if not self.key_separator:
            raise ValueError("key_separator is empty; the default is ':'")
        _unsafe_text("key_separator", self.key_separator, also=REPEAT_MARK)
        if not self.key_name.strip():
            raise ValueError("key_name is empty; the default is 'record_id'")
        if self.key_is_derived and self.key_name in by_name:
            raise ValueError(
                f"key_name {self.key_name!r} is also a declared column; the row key is a column "
                "of its own, so choose another key_name"
            )

    def _check_outcome(self, by_name: dict[str, ColumnSpec]) -> None:
        for cond in conditions_of(self.outcome.tree):
            column = by_name.get(cond.column)
            if column is None:
                raise ValueError(
                    f"outcome.rule uses {cond.column!r}, which is not a declared column"
                    + did_you_mean(cond.column, list(by_name))
                )
            if column.role != Role.OUTCOME_SOURCE:
                raise ValueError(
                    f"outcome.rule uses {cond.column!r}; it must have role 'outcome_source' "
                    f"(it has {column.role.value!r}) so it can never be a model input"
                )
            problem = _condition_problem(cond, column)
            if problem:
                raise ValueError(f"outcome.rule condition {cond.text!r}: {problem}")

    @property
    def key_is_derived(self) -> bool:
        """Whether the key column is built by validation (composite id, or no id column) rather
        than read from a declared column."""
        return len(self.id_parts) != 1

    @property
    def key_column(self) -> str:
        """The one string column that identifies a row in the validated frame and the
        warehouse: the id column when single, else ``key_name``."""
        return self.id_parts[0] if len(self.id_parts) == 1 else self.key_name

    @property
    def id_column(self) -> str:
        """The row key column (same as ``key_column``); never None."""
        return self.key_column

    @property
    def person_key(self) -> tuple[str, bool] | None:
        """Where rows can repeat one student: the column naming the student, and whether a
        "#n" repeat suffix must be cut off it. The first part of a composite id names the
        student (``[id_student, module, term]``); with ``repeated_ids: enrolments`` the key
        without its suffix. None when every row is a different student."""
        if len(self.id_parts) > 1:
            return self.id_parts[0], False
        if self.repeated_ids == "enrolments":
            return self.key_column, True
        return None

    @property
    def equity_columns(self) -> list[str]:
        """Non-protected columns declared ``equity: true``, for equity summaries."""
        return [c.name for c in self.columns if c.equity and c.role != Role.PROTECTED]

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


def did_you_mean(name: str, known: list[str]) -> str:
    """' (did you mean X?)' for a close known name, else ''."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _condition_problem(cond: Condition, column: ColumnSpec) -> str | None:
    """Why ``cond`` cannot apply to ``column`` (its dtype, its categories), or None."""
    name, dtype = column.name, column.dtype
    if dtype in ("int", "float"):
        if cond.kind != "number":
            bound = column.min if column.min is not None else 0
            return (
                f"{name} is a {dtype} column: compare it with a number, e.g. {name} < "
                f"{bound:g} or {name} >= {bound:g}"
            )
        return None
    if dtype == "bool":
        if cond.kind != "bool" or cond.op not in ("==", "!="):
            return f"{name} is a yes/no column: write {name} == true or {name} == false"
        return None
    if cond.kind == "number":
        return (
            f"{name} is a {dtype} column and {cond.values[0]} a number: quote it to compare "
            f"text, e.g. {name} == '{cond.values[0]}'"
        )
    if cond.kind == "bool":
        return (
            f"{name} is a {dtype} column; true/false only compare yes/no columns: quote it to "
            f"compare text, e.g. {name} == '{cond.values[0]}'"
        )
    if dtype == "category":
        unknown = [v for v in cond.values if v not in column.categories]
        if unknown:
            return (
                f"{', '.join(repr(v) for v in unknown)} is not a category of {name} "
                f"(categories: {', '.join(column.categories)})"
            )
    return None


def spec_hash(text: str) -> str:
    """The sha256 (hex) of a spec's YAML text: names one version of a spec."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_spec(path: str | Path | None = None) -> DatasetSpec:
    """Load a spec from YAML; ``None`` gives the built-in public-schema spec. A relative
    ``interventions`` path is resolved from the spec file's folder."""
    if path is None:
        specs = resources.files("data.specs")
        text = specs.joinpath(f"{BUILTIN_SPEC}.yaml").read_text("utf-8")
        base_dir = Path(str(specs)) if isinstance(specs, Path) else None
        return load_spec_text(text, f"built-in spec {BUILTIN_SPEC}", base_dir)
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"spec file {path} does not exist")
    return load_spec_text(path.read_text("utf-8"), str(path), path.resolve().parent)


def load_spec_text(text: str, source: str, base_dir: Path | None = None) -> DatasetSpec:
    """Build a spec from its YAML ``text``; ``source`` names it in error messages, and a
    relative ``interventions`` path is resolved from ``base_dir`` (kept as written when None)."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"{source} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise SpecError(
            f"{source} must be a YAML mapping with name, outcome, columns, feature_sets"
        )
    try:
        return DatasetSpec.model_validate(raw, context={"base_dir": base_dir})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'spec'}: "
            f"{err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise SpecError(f"{source} breaks the data contract: {problems}") from None
