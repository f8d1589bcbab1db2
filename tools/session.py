"""The one path every tool call takes, from any surface (REST routes, the chat, the terminal,
the evals): a ``ToolSession`` knows who is calling and with which role, takes the context
(model + warehouse) once, checks the role once, runs the tool on a typed input, and tells its
observers (metrics, audit, drift — registered by the composition root) what was read.

``tools`` imports none of the observers: they are plain callables taking a ``ToolEvent``."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sara.roles import Caller
from tools import disclosure
from tools.base import Role, Tool, ToolInput, ToolOutput
from tools.context import ToolContext
from tools.errors import Forbidden, ToolError


@dataclass(frozen=True)
class ToolEvent:
    """One finished tool call, as observers see it: what was asked, what came back (or the
    error), for whom, through which surface, and how long it took."""

    tool: Tool
    caller: Caller
    route: str
    via: str
    request: ToolInput | None  # None when the raw arguments did not validate
    output: ToolOutput | None
    error: ToolError | None
    seconds: float
    context: ToolContext

    @property
    def outcome(self) -> str:
        return "ok" if self.error is None else self.error.code

    @property
    def failed(self) -> bool:
        """True for an unexpected fault (not a ``ToolError``): the call raised something else."""
        return self.error is None and self.output is None

    def students(self) -> list[str]:
        """The students this call read or asked about, as the tool declares them."""
        return self.tool.students(self.request, self.output, self.context.id_column)


Observer = Callable[[ToolEvent], None]


@dataclass
class ToolSession:
    """Tools run for one caller through one surface. The context is taken from ``provider``
    on first use and kept for the session's life (one turn of the chat, one request), so every
    number of a turn comes from the same model version and warehouse build."""

    provider: Callable[[], ToolContext]
    caller: Caller
    observers: Sequence[Observer] = ()
    route: str = ""
    via: str = "api"
    # Counts the tables a caller below staff reads (api/budget.py); none: no limit.
    meter: Callable[[Caller], disclosure.Meter] | None = None

    @cached_property
    def context(self) -> ToolContext:
        return self.provider()

    @property
    def role(self) -> Role:
        return self.caller.role

    def can(self, tool: Tool) -> bool:
        return self.caller.can(tool.role)

    def allowed(self, tools: Sequence[Tool]) -> list[Tool]:
        return [tool for tool in tools if self.can(tool)]

    def check(self, tool: Tool) -> None:
        """Raise ``Forbidden`` when this caller's role is below the tool's."""
        if not self.can(tool):
            raise Forbidden(
                f"the {tool.name} tool needs the {tool.role} role; {self.caller.name!r} has the "
                f"{self.caller.role} role",
                field="role",
                value=self.caller.role,
            )

    def via_surface(self, via: str) -> ToolSession:
        """The same caller, context and observers, counted as calls made through ``via``."""
        other = ToolSession(self.provider, self.caller, self.observers, self.route, via, self.meter)
        if "context" in self.__dict__:
            other.__dict__["context"] = self.context
        return other

    def run(self, tool: Tool, request: ToolInput | Mapping[str, Any]) -> ToolOutput:
        """Run ``tool`` for this caller. Raises ``Forbidden`` for a role too low, the tool's own
        ``ToolError`` for bad input or state; every call that passed the role check is
        reported to the observers, successful or not."""
        self.check(tool)
        ctx = self.context
        started = time.perf_counter()
        parsed: ToolInput | None = None
        output: ToolOutput | None = None
        error: ToolError | None = None
        try:
            parsed = tool.parse(request)
            # Below the staff role, aggregates are read with disclosure control.
            meter = self.meter(self.caller) if self.meter is not None else None
            with disclosure.audience(not self.caller.can("staff"), meter):
                output = tool.func(parsed, ctx)
            return output
        except ToolError as exc:
            error = exc
            raise
        finally:
            event = ToolEvent(
                tool, self.caller, self.route, self.via, parsed, output, error,
                time.perf_counter() - started, ctx,
            )  # fmt: skip
            for observe in self.observers:
                observe(event)
