"""What a tool is: a pure function with a pydantic input and output model. Its docstring is
its description for the agent. The registry in ``tools/__init__.py`` lists them once."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Self, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tools.context import ToolContext
from tools.errors import InvalidInput

Role = Literal["viewer", "staff", "analyst", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
RANK = {role: rank for rank, role in enumerate(ROLES)}


def role_allows(have: str, need: str) -> bool:
    """Roles nest: viewer < staff < analyst < admin."""
    return RANK[have] >= RANK[need]


class ToolInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @classmethod
    def parse(cls, payload: Mapping[str, Any] | ToolInput) -> Self:
        """Validate raw arguments; errors name the field, the value and the rule."""
        if isinstance(payload, cls):
            return payload
        try:
            return cls.model_validate(payload)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or None
            raise InvalidInput(
                f"{field or 'input'}: {first['msg']}", field=field, value=first.get("input")
            ) from None

    def students_asked(self, id_column: str) -> list[str]:
        """The students this request names (for the audit log); none unless a tool says so."""
        return []

    def served_records(self) -> list[dict[str, Any]]:
        """The raw student records this request sends for scoring (the drift gauge's input)."""
        return []

    def audit_detail(self) -> str | None:
        """What the audit log keeps of the request beside the students, e.g. free SQL."""
        return None


class ToolOutput(BaseModel):
    """Every output says which model and which data build its numbers come from."""

    model_version: str = Field(description="Registered model version behind these numbers.")
    data_timestamp: str = Field(description="When the warehouse was built (UTC, ISO 8601).")

    def students_read(self, id_column: str) -> list[str]:
        """The students whose data this output shows (for the audit log)."""
        return []

    def served_scores(self) -> list[tuple[float, str]]:
        """(risk score, level) of each student score this output hands to a caller."""
        return []


def stamp(ctx: ToolContext) -> dict[str, str]:
    return {"model_version": ctx.model_version, "data_timestamp": ctx.data_timestamp}


@dataclass(frozen=True)
class Tool:
    name: str
    func: Callable[..., ToolOutput]
    input_model: type[ToolInput]
    output_model: type[ToolOutput]
    role: Role = "staff"
    student_level: bool = False

    @property
    def description(self) -> str:
        return inspect.cleandoc(self.func.__doc__ or self.name)

    def parse(self, payload: Mapping[str, Any] | ToolInput) -> ToolInput:
        """This tool's input from raw arguments (or the input itself), validated."""
        if isinstance(payload, ToolInput) and not isinstance(payload, self.input_model):
            raise InvalidInput(
                f"{self.name} takes a {self.input_model.__name__}, not a {type(payload).__name__}",
                field="input",
                value=type(payload).__name__,
            )
        return self.input_model.parse(payload)

    def students(
        self, request: ToolInput | None, output: ToolOutput | None, id_column: str
    ) -> list[str]:
        """The students a call of this tool touched: those its request names and those its
        output shows, each once, in that order."""
        asked = request.students_asked(id_column) if request is not None else []
        shown = output.students_read(id_column) if output is not None else []
        return list(dict.fromkeys([*asked, *shown]))


def record_ids(records: list[dict[str, Any]], id_column: str) -> list[str]:
    """The ids raw records carry under the spec's id column."""
    return [str(r[id_column]) for r in records if r.get(id_column) is not None]
