"""What a tool is: a pure function with a pydantic input and output model. Its docstring is
its description for the agent. The registry in ``tools/__init__.py`` lists them once."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

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


class ToolOutput(BaseModel):
    """Every output says which model and which data build its numbers come from."""

    model_version: str = Field(description="Registered model version behind these numbers.")
    data_timestamp: str = Field(description="When the warehouse was built (UTC, ISO 8601).")


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

    def parse(self, payload: dict | ToolInput) -> ToolInput:
        """Validate raw arguments; errors name the field, the value and the rule."""
        if isinstance(payload, self.input_model):
            return payload
        try:
            return self.input_model.model_validate(payload)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or None
            raise InvalidInput(
                f"{field or 'input'}: {first['msg']}", field=field, value=first.get("input")
            ) from None

    def run(self, ctx: ToolContext, payload: dict | ToolInput) -> ToolOutput:
        return self.func(self.parse(payload), ctx)
