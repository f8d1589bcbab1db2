"""Typed errors every tool raises for bad input or missing state. The API maps them to one
error shape; the assistant relays their message. Never a stack trace for a user."""

from __future__ import annotations


class ToolError(Exception):
    """Base class: ``code`` is stable, ``message`` is for people, ``field``/``value`` point at
    the input that caused it."""

    code = "tool_error"

    def __init__(self, message: str, field: str | None = None, value: object = None):
        super().__init__(message)
        self.message, self.field, self.value = message, field, value

    def as_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "message": self.message,
            "field": self.field,
            "value": self.value,
        }


class InvalidInput(ToolError):
    code = "invalid_input"


class NotFound(ToolError):
    code = "not_found"


class NotReady(ToolError):
    code = "not_ready"


class NotConfigured(ToolError):
    """The dataset in service does not define what the call needs (e.g. it has no intervention
    catalogue); the message says how to add it."""

    code = "not_configured"


class Forbidden(ToolError):
    """The caller's role is below the tool's."""

    code = "forbidden"


class LimitReached(ToolError):
    """The caller has used up a limit (e.g. a viewer key's daily tables); the message says
    when it frees up."""

    code = "limit_reached"
