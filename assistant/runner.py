"""Running the registry's tools for one caller in one turn, and keeping the record of each call.

The assistant never calls a tool function directly: it goes through ``ToolRunner`` so the role
check is one rule for both backends, and so a surface (the API) can pass its own ``execute``
that also audits and counts every call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from assistant.types import ToolCall
from tools import TOOLS, TOOLS_BY_NAME, get_tool
from tools.base import Tool, ToolOutput, role_allows
from tools.context import ToolContext
from tools.errors import ToolError

Execute = Callable[[str, dict[str, Any]], ToolOutput]


def direct(ctx: ToolContext) -> Execute:
    """Run tools in-process on a context (terminal, evals, tests)."""
    return lambda name, arguments: get_tool(name).run(ctx, arguments)


class ToolRunner:
    """The tools one caller may use, and the calls made with them this turn."""

    def __init__(self, execute: Execute, role: str = "staff"):
        self.execute, self.role = execute, role
        self.calls: list[ToolCall] = []

    def can(self, name: str) -> bool:
        return role_allows(self.role, TOOLS_BY_NAME[name].role)

    @property
    def tools(self) -> list[Tool]:
        return [tool for tool in TOOLS if self.can(tool.name)]

    def call(self, name: str, arguments: dict[str, Any]) -> ToolCall:
        """Run one tool; a tool error becomes the call's ``error`` (its message names the field,
        the value and the rule), never an exception."""
        record = ToolCall(name=name, arguments=arguments)
        try:
            if name not in TOOLS_BY_NAME:
                raise ToolError(f"unknown tool {name!r}", field="name", value=name)
            if not self.can(name):
                need = TOOLS_BY_NAME[name].role
                raise ToolError(
                    f"{name} needs the {need} role; this caller has the {self.role} role",
                    field="role",
                    value=self.role,
                )
            record.output = self.execute(name, arguments).model_dump(mode="json")
        except ToolError as exc:
            record.error = exc.message
        except Exception as exc:
            # A surface's own permission check (the API's 403 for the caller's key) refuses the
            # call like the role check above; anything else is a fault and is raised.
            if getattr(exc, "status", None) not in (401, 403):
                raise
            record.error = str(getattr(exc, "message", exc))
        self.calls.append(record)
        return record
