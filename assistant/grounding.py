"""The grounding guard: every number in an answer must come from a tool output of this turn.

A number in the text is grounded when some number in the tool outputs (or the arguments the
tools were called with), as a value, a percentage (×100) or an absolute value, rounds to it at
the precision it is written with. Student ids, model versions and dates inside tool outputs
count as numbers too, so quoting them is grounded. A student id in the text (which is a name,
not a number) is grounded when this turn's tool calls asked for or returned that student."""

from __future__ import annotations

import bisect
import json
import math
import re
from collections.abc import Iterable
from typing import Any

import numpy as np

from assistant.types import ToolCall

# A number as people write it: 1,135 · 0.57 · 9.6 · 50k · $2,810.53 · -0.096. Digits glued to
# letters (A0000042, Q1, p95) are part of a name, and years/dates are matched whole.
_NUMBER = re.compile(
    r"(?<![\w.])[-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s?[kKmM](?![a-zA-Z]))?(?![\w])"
)
_SCALES = (1.0, 100.0)


# How a student's probability at the extremes is written (assistant.render.risk_pct): fixed
# words, not numbers read from data.
ABOVE, BELOW = "above 99 %", "below 1 %"
_BOUNDS = re.compile(r"\b(?:" + "|".join(map(re.escape, (ABOVE, BELOW))) + ")")


def numbers_in_text(text: str) -> list[str]:
    """The numbers written in ``text`` (as written), leaving out the extremes' fixed bounds."""
    return [m.group(0) for m in _NUMBER.finditer(_BOUNDS.sub("", text))]


def written_value(written: str) -> tuple[float, int]:
    """A written number's value and its number of decimals."""
    token = written.replace("−", "-").replace(",", "").replace(" ", "")
    multiplier = 1.0
    if token[-1] in "kK":
        token, multiplier = token[:-1], 1e3
    elif token[-1] in "mM":
        token, multiplier = token[:-1], 1e6
    decimals = len(token.split(".")[1]) if "." in token else 0
    return float(token) * multiplier, decimals if multiplier == 1.0 else -1


def numbers_in(value: Any) -> Iterable[float]:
    """Every number inside a tool output or arguments: values and numbers inside strings."""
    if isinstance(value, bool):
        yield float(value)
    elif isinstance(value, int | float):
        if math.isfinite(value):
            yield float(value)
    elif isinstance(value, str):
        for written in numbers_in_text(value):
            yield written_value(written)[0]
        for digits in re.findall(r"(?<![A-Za-z\d])\d+(?:\.\d+)?", value):  # dates, times
            yield float(digits)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from numbers_in(key)
            yield from numbers_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from numbers_in(item)


def _matches(written: float, decimals: int, source: float) -> bool:
    for scale in _SCALES:
        candidate = abs(source * scale)
        if decimals < 0:  # 50k, 1.5M: within half of the last written digit
            if math.isclose(candidate, abs(written), rel_tol=0.05):
                return True
        elif abs(round(candidate, decimals) - abs(written)) < 0.5 * 10**-decimals + 1e-9:
            return True
    return False


# A JSON string (with its quotes), and a JSON number outside strings.
_JSON_STRING = re.compile(r'("[^"\\]*(?:\\.[^"\\]*)*")')
_JSON_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_APART = "\x00"  # joins strings: no number reading crosses it
# A digit not glued to a letter or digit before it (an opening quote counts as neither): a
# string without one holds no number.
_LOOSE_DIGIT = re.compile(r"(?<![A-Za-z\d])\d")


def numbers_in_json(text: str) -> list[float]:
    """``numbers_in`` of the data a JSON text holds, read from the text in a few passes (a tool
    output of thousands of rows is not walked value by value): the numbers outside strings,
    true/false as 1/0, and the numbers inside the strings that hold a digit not glued to a
    letter or digit (the others hold none), read together."""
    parts = _JSON_STRING.split(text)
    outside = " ".join(parts[0::2])
    found = [float(n) for n in _JSON_NUMBER.findall(outside)]
    found += [1.0] * ("true" in outside) + [0.0] * ("false" in outside)
    joined = _APART.join(parts[1::2])
    holding: dict[int, str] = {}
    for match in _LOOSE_DIGIT.finditer(joined):
        start = joined.rfind(_APART, 0, match.start()) + 1
        if start not in holding:
            end = joined.find(_APART, match.start())
            quoted = joined[start : end if end >= 0 else len(joined)]
            holding[start] = json.loads(quoted) if "\\" in quoted else quoted[1:-1]
    found += numbers_in(_APART.join(holding.values()))
    return [n for n in found if math.isfinite(n)]


def _sources(calls: list[ToolCall]) -> list[float]:
    """Every number this turn's tool outputs and arguments hold, as absolute values, sorted."""
    found: list[float] = []
    for call in calls:
        found += numbers_in_json(call.output_json())
        found += numbers_in(call.arguments)
    return np.unique(np.abs(np.round(np.array(found, dtype=float), 10))).tolist()


def _grounded(value: float, decimals: int, sources: list[float]) -> bool:
    """Whether some source matches the written number (``_matches``), looking only at the
    sources near it: for each scale, those within the written number's rounding window."""
    target = abs(value)
    for scale in _SCALES:
        if decimals < 0:  # within 5 %: a window a little wider than that
            low, high = target * 0.9 / scale, target * 1.1 / scale + 1e-12
        else:
            half = 0.5 * 10**-decimals + 1e-6
            low, high = (target - half) / scale, (target + half) / scale
        start = bisect.bisect_left(sources, low)
        stop = bisect.bisect_right(sources, high)
        if any(_matches(value, decimals, source) for source in sources[start:stop]):
            return True
    return False


def ungrounded_numbers(text: str, calls: list[ToolCall]) -> list[str]:
    """The numbers in ``text`` that no tool output or argument of this turn supports."""
    sources = _sources(calls)
    missing = []
    for written in numbers_in_text(text):
        value, decimals = written_value(written)
        if not _grounded(value, decimals, sources):
            missing.append(written)
    return missing


def ungrounded_ids(text: str, calls: list[ToolCall], prefix: str) -> list[str]:
    """The student ids (``prefix`` + digits) in ``text`` that no tool call of this turn asked
    for or returned: a student the answer may not speak about."""
    pattern = re.compile(rf"(?<![A-Za-z0-9]){re.escape(prefix)}\d+(?![A-Za-z0-9])", re.I)
    written = list(dict.fromkeys(pattern.findall(text)))
    if not written:
        return []
    sources = [
        source
        for call in calls
        for source in (json.dumps(call.arguments, default=str), call.output_json())
    ]

    def seen(student: str) -> bool:  # the same whole token, in any case
        token = re.compile(rf"(?<![A-Za-z0-9]){re.escape(student)}(?![A-Za-z0-9])", re.I)
        return any(token.search(source) for source in sources)

    return [m for m in written if not seen(m)]
