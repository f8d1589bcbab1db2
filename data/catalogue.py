"""The intervention catalogue: what each programme changes in a student's record, its cost and
evidence; and applying those changes to students' rows. Each dataset has its own catalogue (a
YAML file its spec names under ``interventions:``, or ``SARA_INTERVENTIONS_PATH``), or none. A
move of any column the spec does not mark ``actionable`` is refused when it is loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from data.spec import DatasetSpec, Role, did_you_mean
from sara.errors import UserError

Operation = Literal["add", "multiply", "set", "toward"]


class CatalogueError(UserError, ValueError):
    """An intervention catalogue that cannot be read or moves a column it must not."""


class UnknownIntervention(CatalogueError):
    """A name that is not in the catalogue."""

    def __init__(self, name: str, known: list[str]):
        super().__init__(f"unknown intervention {name!r}; known: {', '.join(known)}")
        self.name = name


class Move(BaseModel):
    """One change to one column: ``add``, ``multiply``, ``set`` or ``toward`` (new = old +
    fraction · (target − old))."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    op: Operation
    value: float = Field(description="Amount added, factor, new value, or the toward-fraction.")
    target: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_yaml(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and "op" not in raw:
            if len(raw) != 1:
                raise ValueError(f"give exactly one of add, multiply, set, toward; got {raw}")
            ((op, arg),) = raw.items()
            if op == "toward":
                if not isinstance(arg, dict) or set(arg) != {"target", "fraction"}:
                    raise ValueError("toward needs {target: t, fraction: f}")
                return {"op": op, "value": arg["fraction"], "target": arg["target"]}
            return {"op": op, "value": arg}
        return raw

    @model_validator(mode="after")
    def _sane(self) -> Move:
        if self.op == "toward" and not 0 <= self.value <= 1:
            raise ValueError(f"toward fraction {self.value} must be between 0 and 1")
        return self

    def apply(self, values: np.ndarray) -> np.ndarray:
        if self.op == "add":
            return values + self.value
        if self.op == "multiply":
            return values * self.value
        if self.op == "set":
            return np.full_like(values, self.value)
        return values + self.value * (self.target - values)


class Intervention(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    moves: dict[str, Move] = Field(min_length=1)
    cost_per_student: float = Field(gt=0, description="USD per student per year.")
    evidence: str
    causal_note: str
    treatment_in_data: bool = True


class Catalogue(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    confounders: tuple[str, ...] = ()
    interventions: tuple[Intervention, ...] = Field(min_length=1)

    @property
    def names(self) -> list[str]:
        return [iv.name for iv in self.interventions]

    def pick(self, names: list[str] | None) -> list[Intervention]:
        """The named interventions (all by default); an unknown name is UnknownIntervention."""
        if not names:
            return list(self.interventions)
        by_name = {iv.name: iv for iv in self.interventions}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise UnknownIntervention(unknown[0], self.names)
        return [by_name[n] for n in dict.fromkeys(names)]


def _check_column(intervention: Any, column: str, spec: DatasetSpec, source: str) -> None:
    """Only actionable columns of the spec may be moved."""
    where = f"{source}: intervention {intervention!r} moves {column!r}"
    if column not in spec.column_names:
        hint = did_you_mean(column, spec.actionable or spec.column_names)
        raise CatalogueError(f"{where}, which is not a column of spec {spec.name!r}{hint}")
    role = spec.column(column).role
    if role != Role.ACTIONABLE:
        raise CatalogueError(
            f"{where}, whose role is {role.value!r}; only actionable columns "
            f"({', '.join(spec.actionable)}) can be changed by an intervention"
        )


def _check_raw_moves(raw: Any, spec: DatasetSpec, source: str) -> None:
    """Refuse moves of non-actionable columns before anything else is validated."""
    entries = raw.get("interventions") if isinstance(raw, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        moves = entry.get("moves") if isinstance(entry, dict) else None
        for column in moves if isinstance(moves, dict) else []:
            _check_column(entry.get("name"), str(column), spec, source)


def _check_against_spec(catalogue: Catalogue, spec: DatasetSpec, source: str) -> None:
    names = catalogue.names
    if len(set(names)) != len(names):
        raise CatalogueError(f"{source}: intervention names must be unique, got {names}")
    for column in catalogue.confounders:
        if column not in spec.column_names:
            raise CatalogueError(
                f"{source}: confounder {column!r} is not a column of spec {spec.name!r}"
            )
    for iv in catalogue.interventions:
        for column, move in iv.moves.items():
            _check_column(iv.name, column, spec, source)
            if spec.column(column).dtype == "bool" and (
                move.op != "set" or move.value not in (0, 1)
            ):
                raise CatalogueError(
                    f"{source}: intervention {iv.name!r} moves {column!r}, a yes/no column: "
                    "use set: 0 or set: 1"
                )


def catalogue_text(spec: DatasetSpec, path: str | Path | None = None) -> tuple[str, str] | None:
    """The catalogue's YAML text and where it came from: ``path`` when given (the
    ``SARA_INTERVENTIONS_PATH`` setting), else the file the spec names under ``interventions:``;
    None when neither names one (the dataset has no interventions)."""
    path = path or getattr(spec, "interventions", None)
    if path is None:
        return None
    path = Path(path)
    if not path.is_file():
        raise CatalogueError(f"intervention catalogue {path} does not exist")
    return path.read_text("utf-8"), str(path)


def parse_catalogue(spec: DatasetSpec, text: str, source: str) -> Catalogue:
    """Read a catalogue's YAML and check it against the spec: every move must change an
    actionable column, every confounder must be a column."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{source} is not valid YAML: {exc}") from None
    _check_raw_moves(raw, spec, source)
    try:
        catalogue = Catalogue.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'catalogue'}: {e['msg']}" for e in exc.errors()
        )
        raise CatalogueError(f"{source} is not a valid catalogue: {problems}") from None
    _check_against_spec(catalogue, spec, source)
    return catalogue


def load_catalogue(spec: DatasetSpec, path: str | Path | None = None) -> Catalogue:
    """The catalogue at ``path``, else the one the spec names; a spec that names none is a
    ``CatalogueError`` saying how to add one."""
    found = catalogue_text(spec, path)
    if found is None:
        raise CatalogueError(no_catalogue_message(spec))
    return parse_catalogue(spec, *found)


def no_catalogue_message(spec: DatasetSpec) -> str:
    """What a user is told when the dataset in service has no intervention catalogue."""
    return (
        f"No interventions are defined for this dataset (spec {spec.name!r}). To add them, write "
        "an intervention catalogue (a YAML file of programmes, each with the actionable "
        "columns it moves, its cost per student and its evidence; see the README, "
        "'Interventions'), name it in the spec under 'interventions:' or set "
        "SARA_INTERVENTIONS_PATH, and run `sara pipeline run` again."
    )


def _bounds(spec: DatasetSpec, column: str) -> tuple[float, float]:
    col = spec.column(column)
    if col.dtype == "bool":
        return 0.0, 1.0
    return (-np.inf if col.min is None else col.min), (np.inf if col.max is None else col.max)


def apply_moves(frame: pd.DataFrame, intervention: Intervention, spec: DatasetSpec) -> pd.DataFrame:
    """A copy of ``frame`` with the intervention's moves applied, clipped to the spec's range;
    columns the intervention does not move are untouched. Moving a column that is not
    actionable is a CatalogueError."""
    out = frame.copy(deep=False)
    for column, move in intervention.moves.items():
        _check_column(intervention.name, column, spec, "apply_moves")
        if column not in out.columns:
            continue
        values = pd.to_numeric(out[column]).to_numpy(dtype=float, na_value=np.nan)
        moved = np.clip(move.apply(values), *_bounds(spec, column))
        if spec.column(column).dtype == "int":
            moved = np.round(moved)
        out[column] = moved
    return out
