"""The outcome rule of a dataset spec: conditions on outcome-source columns (``GPA < 2.0``,
``result == Fail``, ``result in [Fail, Withdrawn]``, ``result not in [Pass]``, ``repeated ==
true``) joined by ``and`` / ``or`` with parentheses, parsed once into an immutable tree and
evaluated on a frame. data/spec.py checks the columns and values against the spec."""

from __future__ import annotations

import operator
import re
from functools import lru_cache
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, field_validator

TRUE_WORDS = {"1", "true", "yes", "y", "t"}
FALSE_WORDS = {"0", "false", "no", "n", "f"}

_OPERATORS = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
RULE_FORMS = (
    "write conditions like: score < 50 | result == Fail | result in [Fail, Withdrawn] | "
    "result not in [Pass] | repeated == true, joined by and / or, with parentheses"
)
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<op><=|>=|==|!=|<|>)
      | (?P<punct>[()\[\],])
      | "(?P<dq>[^"]*)" | '(?P<sq>[^']*)' | `(?P<name>[^`]+)`
      | (?P<word>[^\s()\[\],'"`<>=!]+)
    )""",
    re.VERBOSE,
)
_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_KEYWORDS = {"and", "or", "not", "in"}


class Condition(BaseModel):
    """One comparison of an outcome rule. ``kind`` is what the value is: a number (``GPA <
    2.0``), ``true``/``false`` (``repeated == true``) or text (``result == Fail``, ``result in
    [Fail, Withdrawn]``); ``values`` holds it as written, one for a comparison, one or more for
    ``in`` / ``not in``."""

    model_config = ConfigDict(frozen=True)
    column: str
    op: Literal["<", "<=", ">", ">=", "==", "!=", "in", "not in"]
    kind: Literal["number", "bool", "text"]
    values: tuple[str, ...]
    text: str

    def evaluate(self, frame: pd.DataFrame) -> np.ndarray:
        """Where the condition holds. A missing value never satisfies it (not even ``!=``)."""
        column = frame[self.column]
        if self.kind == "text":
            text = column.astype("string").str.strip()
            present = text.notna().to_numpy(dtype=bool)
            hit = text.isin(self.values).to_numpy(dtype=bool)
            return present & (~hit if self.op in ("!=", "not in") else hit)
        if self.kind == "bool":
            values = _truth_values(column)
            target = 1.0 if self.values[0].lower() == "true" else 0.0
        else:
            values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            target = float(self.values[0])
        return ~np.isnan(values) & _OPERATORS[self.op](values, target)

    def __str__(self) -> str:
        return self.text


class Clause(BaseModel):
    """Conditions (or nested clauses) joined by one connective."""

    model_config = ConfigDict(frozen=True)
    connective: Literal["and", "or"]
    parts: tuple[Condition | Clause, ...]

    def evaluate(self, frame: pd.DataFrame) -> np.ndarray:
        combine = np.logical_and if self.connective == "and" else np.logical_or
        result = self.parts[0].evaluate(frame)
        for part in self.parts[1:]:
            result = combine(result, part.evaluate(frame))
        return result


def _truth_values(column: pd.Series) -> np.ndarray:
    """A yes/no column as 1.0 / 0.0 / NaN, typed (0/1, booleans) or as words (yes, false…)."""
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    words = column.astype("string").str.strip().str.lower()
    return np.where(words.isin(TRUE_WORDS), 1.0, np.where(words.isin(FALSE_WORDS), 0.0, np.nan))


def conditions_of(node: Condition | Clause) -> list[Condition]:
    """Every condition of a parsed rule, in the order written."""
    if isinstance(node, Condition):
        return [node]
    return [c for part in node.parts for c in conditions_of(part)]


class _RuleParser:
    """Recursive descent over ``rule := term (or term)*``, ``term := factor (and factor)*``,
    ``factor := ( rule ) | condition``: ``and`` binds tighter than ``or``."""

    def __init__(self, rule: str):
        self.rule = rule
        self.tokens: list[tuple[str, str, int, int]] = []  # (kind, text, start, end)
        position = 0
        while position < len(rule):
            if not rule[position:].strip():
                break
            match = _TOKEN.match(rule, position)
            if match is None:
                start = len(rule) - len(rule[position:].lstrip())
                self.fail(start, "not a column, operator or value")
            kind = match.lastgroup
            quoted = kind in ("dq", "sq", "name")
            start = match.start(kind) - (1 if quoted else 0)
            self.tokens.append((kind, match[kind], start, match.end()))
            position = match.end()
        self.at = 0

    def fail(self, start: int | None, reason: str) -> None:
        if start is None:  # the rule stopped early: show its last word
            shown = self.rule.strip().split()[-1] if self.rule.strip() else ""
            reason = f"{reason}, but the rule ends after it"
        else:
            shown = self.rule[start:].strip()
        where = "" if shown == self.rule.strip() else f" in {self.rule!r}"
        raise ValueError(f"cannot read {shown!r}{where} ({reason}); {RULE_FORMS}")

    def peek(self) -> tuple[str, str, int, int] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token and token[0] == "word" and token[1].lower() == word:
            self.at += 1
            return True
        return False

    def punct(self, char: str) -> bool:
        token = self.peek()
        if token and token[0] == "punct" and token[1] == char:
            self.at += 1
            return True
        return False

    def expect_punct(self, char: str, reason: str) -> None:
        if not self.punct(char):
            token = self.peek()
            self.fail(token[2] if token else None, reason)

    def parse(self) -> Condition | Clause:
        if not self.tokens:
            raise ValueError(f"outcome.rule is empty; {RULE_FORMS}")
        node = self.disjunction()
        token = self.peek()
        if token is not None:
            self.fail(token[2], "expected 'and', 'or' or the end of the rule")
        return node

    def disjunction(self) -> Condition | Clause:
        parts = [self.conjunction()]
        while self.keyword("or"):
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else Clause(connective="or", parts=tuple(parts))

    def conjunction(self) -> Condition | Clause:
        parts = [self.factor()]
        while self.keyword("and"):
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else Clause(connective="and", parts=tuple(parts))

    def factor(self) -> Condition | Clause:
        if self.punct("("):
            node = self.disjunction()
            self.expect_punct(")", "expected ')' to close the parenthesis")
            return node
        return self.condition()

    def condition(self) -> Condition:
        token = self.peek()
        if token is None:
            self.fail(None, "expected a condition")
        kind, column, start, _ = token
        if kind not in ("word", "name") or (kind == "word" and column.lower() in _KEYWORDS):
            self.fail(start, "expected a column name")
        self.at += 1
        after = self.peek()
        if after is not None and after[0] == "op":
            self.at += 1
            value_kind, value = self.value(list_item=False)
            op, values = after[1], (value,)
        elif self.keyword("in"):
            op, values, value_kind = "in", self.value_list(), "text"
        elif self.keyword("not"):
            if not self.keyword("in"):
                nxt = self.peek()
                self.fail(nxt[2] if nxt else None, "expected 'in' after 'not'")
            op, values, value_kind = "not in", self.value_list(), "text"
        else:
            self.fail(
                after[2] if after else None,
                f"expected <, <=, >, >=, ==, !=, in or not in after {column}",
            )
        text = self.rule[start : self.tokens[self.at - 1][3]]
        if value_kind != "number" and op in ("<", "<=", ">", ">="):
            self.fail(start, f"{op} compares numbers")
        return Condition(column=column, op=op, kind=value_kind, values=values, text=text)

    def value(self, list_item: bool) -> tuple[Literal["number", "bool", "text"], str]:
        token = self.peek()
        if token is None:
            self.fail(None, "expected a value")
        kind, text, start, _ = token
        if kind in ("dq", "sq"):
            self.at += 1
            return "text", text
        if kind != "word":
            self.fail(start, "expected a value")
        self.at += 1
        if list_item:
            return "text", text
        if _NUMBER.fullmatch(text):
            return "number", text
        if text.lower() in ("true", "false"):
            return "bool", text.lower()
        return "text", text

    def value_list(self) -> tuple[str, ...]:
        self.expect_punct("[", "expected a list in brackets, e.g. [Fail, Withdrawn]")
        values = [self.value(list_item=True)[1]]
        while self.punct(","):
            values.append(self.value(list_item=True)[1])
        self.expect_punct("]", "expected ',' or ']' in the list")
        return tuple(values)


@lru_cache(maxsize=256)
def parse_rule(rule: str) -> Condition | Clause:
    """The parsed outcome rule; ``ValueError`` (showing the unreadable text and every accepted
    form) when it cannot be read. Parsed trees are immutable, so each rule is parsed once."""
    return _RuleParser(rule).parse()


class OutcomeSpec(BaseModel):
    """The outcome is a rule on outcome-source columns: conditions such as ``GPA < 2.0``,
    ``result == Fail``, ``result in [Fail, Withdrawn]``, ``result not in [Pass]`` or
    ``repeated == true``, joined by ``and`` / ``or`` (``and`` binds tighter) with parentheses.
    A value is a number, ``true``/``false``, or text (a bare word, or quoted: ``'<HS'``); a
    column whose name has spaces is written in backticks (`` `final result` == Fail ``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = "at_risk"
    rule: str
    description: str = ""

    @field_validator("rule")
    @classmethod
    def _readable(cls, rule: str) -> str:
        parse_rule(rule)
        return rule

    @property
    def tree(self) -> Condition | Clause:
        """The parsed rule."""
        return parse_rule(self.rule)

    @property
    def columns(self) -> list[str]:
        """The columns the rule reads, each once, in the order written."""
        return list(dict.fromkeys(c.column for c in conditions_of(self.tree)))

    def label(self, frame: pd.DataFrame) -> np.ndarray:
        """The outcome (1 = at risk) for each row of ``frame`` as int8. A missing value in a
        column the rule reads makes each condition on it false (0) for that row, whatever the
        operator; the other conditions still count."""
        return self.tree.evaluate(frame).astype(np.int8)
