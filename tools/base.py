"""What a tool is: a pure function with a pydantic input and output model. Its docstring is
its description for the agent. The registry in ``tools/__init__.py`` lists them once."""

from __future__ import annotations

import inspect
import itertools
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError, to_json

# Roles live in sara.roles (no dependencies), named here too for the tools' own modules.
from sara.roles import RANK as RANK
from sara.roles import ROLES as ROLES
from sara.roles import Role as Role
from sara.roles import role_allows as role_allows
from tools.context import ToolContext
from tools.errors import InvalidInput

# The pydantic error type of a value the rules below refuse; its context names the place inside
# the field (``at``) and the value in a form any response or log can carry (``value``).
UNUSABLE_VALUE = "unusable_value"
# A whole number in an input is a count, an id or a measurement: beyond 64 bits it is none of
# them, and converting it to a float overflows.
MAX_INTEGER = 2**63
ESCAPED_NUL = b"\\u0000"  # how a NUL character looks in JSON text
# Nineteen digits in a row may be a whole number beyond 64 bits (or a long id: then the walk
# finds nothing). Found by mapping every byte to a digit or a space (much faster than a regex).
LONG_NUMBER = b"0" * 19
_DIGITS_ONLY = bytes(ord("0") if ord("0") <= b <= ord("9") else ord(" ") for b in range(256))
# An error shows back at most this much of the value it refused.
MAX_ECHO_CHARS = 200
ECHO_DEPTH, ECHO_ITEMS = 4, 20


def text_problem(text: str) -> str | None:
    """Why a string is not usable text, or None. A NUL character ends strings in C libraries,
    file names and some databases; a lone surrogate (U+D800-U+DFFF, which JSON's ``\\ud800``
    escape can produce) is not Unicode text at all: no response, log line or file can encode
    it."""
    if "\x00" in text:
        return "contains a NUL character"
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (U+D800-U+DFFF), which is not text"
    return None


def number_problem(value: float | int) -> str | None:
    """Why a number is not usable, or None: NaN and ±infinity (JSON's ``NaN``/``Infinity``
    literals and overflowing numbers like ``1e400``), or a whole number beyond 64 bits."""
    if isinstance(value, float):
        return None if math.isfinite(value) else "must be a finite number"
    if isinstance(value, int) and not -MAX_INTEGER <= value < MAX_INTEGER:
        return f"must fit in 64 bits (-2**63 to 2**63 - 1); it has {value.bit_length()} bits"
    return None


def printable(text: str) -> str:
    """``text`` with lone surrogates written as ``\\udxxx`` escapes: safe in any response or log."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def safe_value(value: Any, max_chars: int = MAX_ECHO_CHARS) -> Any:
    """A JSON-safe, bounded copy of ``value`` to show back in an error: lone surrogates escaped,
    NaN and infinities as text, only the first few items of a container; a string longer than
    ``max_chars`` is cut short with "…", and so is anything else longer as JSON (as that text)."""
    echo = _echo(value, ECHO_DEPTH)
    if isinstance(echo, str):
        return echo if len(echo) <= max_chars else echo[:max_chars] + "…"
    text = json.dumps(echo, ensure_ascii=False)
    return echo if len(text) <= max_chars else text[:max_chars] + "…"


def _echo(value: Any, depth: int) -> Any:
    if value is None or isinstance(value, bool | str):
        # Only as much of a string as can be shown (a refused one may be megabytes).
        return printable(value[: MAX_ECHO_CHARS + 1]) if isinstance(value, str) else value
    if isinstance(value, int | float):
        if number_problem(value) is None:
            return value
        if isinstance(value, float):
            return repr(value)  # 'nan', 'inf', '-inf'
        return f"<a {value.bit_length()}-bit integer>"
    if depth == 0:
        return "…"
    if isinstance(value, Mapping):
        items = list(itertools.islice(value.items(), ECHO_ITEMS))
        return {printable(str(k)): _echo(v, depth - 1) for k, v in items}
    if isinstance(value, list | tuple | set | frozenset):
        return [_echo(v, depth - 1) for v in itertools.islice(value, ECHO_ITEMS)]
    return printable(str(value))


def error_place(error: Mapping[str, Any]) -> tuple[list[str], Any]:
    """The place (field, then the path inside it) and the offending value a pydantic error
    names: for a value refused by the rules above, its own place inside the field."""
    where = [str(part) for part in error.get("loc", ())]
    if error.get("type") == UNUSABLE_VALUE:
        return [*where, *error["ctx"]["at"]], error["ctx"]["value"]
    return where, error.get("input")


def _first_unusable(value: Any) -> tuple[list[str], Any, str] | None:
    """(path inside ``value``, the value there, the rule) of the first string or number the
    rules refuse, keys of mappings included; None when every one is usable. Iterative, so no
    nesting is too deep for it; a place is linked to its parent's and spelt out only when
    something is refused."""
    stack: list[tuple[Any, tuple | None]] = [(value, None)]
    while stack:
        item, place = stack.pop()
        kind = type(item)
        if kind is str or isinstance(item, str):
            rule = text_problem(item)
        elif kind is float or kind is int or isinstance(item, int | float):
            rule = None if kind is bool else number_problem(item)
        elif isinstance(item, Mapping):
            for key, child in reversed(list(item.items())):
                if isinstance(key, str) and (rule := text_problem(key)) is not None:
                    return _spelt((place, key)), key, f"a key that {rule}"
                stack.append((child, (place, key)))
            continue
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend((child, (place, i)) for i, child in reversed(list(enumerate(item))))
            continue
        else:
            continue
        if rule is not None:
            return _spelt(place), item, rule
    return None


def _spelt(place: tuple | None) -> list[str]:
    parts: list[str] = []
    while place is not None:
        place, part = place
        parts.append(printable(str(part)))
    return parts[::-1]


def _looks_usable(value: Any) -> bool:
    """A quick, conservative test that ``value`` holds nothing ``_first_unusable`` refuses: one
    serialisation in Rust (a lone surrogate fails it) and a scan for what else could be wrong.
    False only means "walk it": a batch of 100,000 records is checked in a fraction of the time
    the walk takes."""
    try:
        text = to_json(value, inf_nan_mode="constants")
    except Exception:  # not serialisable as it is (a lone surrogate, an object): walk it
        return False
    suspects = (ESCAPED_NUL, b"NaN", b"Infinity")
    return not any(s in text for s in suspects) and LONG_NUMBER not in text.translate(_DIGITS_ONLY)


class ToolInput(BaseModel):
    """A tool's arguments. Floats must be finite; every string (mapping keys too) must be text
    without NUL characters, and every number finite and within 64 bits, however deep inside a
    field it is: a refused value names its place, e.g. ``records.3.<column>``."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _usable_values(cls, value: Any) -> Any:
        if _looks_usable(value):
            return value
        found = _first_unusable(value)
        if found is None:
            return value
        at, bad, rule = found
        raise PydanticCustomError(
            UNUSABLE_VALUE, "{rule}", {"rule": rule, "at": at, "value": safe_value(bad)}
        )

    @classmethod
    def parse(cls, payload: Mapping[str, Any] | ToolInput) -> Self:
        """Validate raw arguments; errors name the field, the value and the rule."""
        if isinstance(payload, cls):
            return payload
        try:
            return cls.model_validate(payload)
        except ValidationError as exc:
            where, value = error_place(exc.errors()[0])
            field = ".".join(where) or None
            message = exc.errors()[0]["msg"]
            raise InvalidInput(f"{field or 'input'}: {message}", field=field, value=value) from None

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
    # Computes aggregates over students (disclosure-controlled and audited below staff).
    aggregate: bool = False

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
