"""Answers use the spec's words for stored codes: value labels in equity groups, explanations
and risk factors."""

from __future__ import annotations

from data.spec import ColumnSpec
from pipeline.phrases import format_value
from tools.equity import value_label

AREA = ColumnSpec(
    name="address", dtype="category", categories=("U", "R"), role="context",
    value_labels={"U": "urban", "R": "rural"},
)  # fmt: skip
LEVEL = ColumnSpec(name="Medu", dtype="int", min=0, max=4, role="context",
                   value_labels={"0": "no schooling"})  # fmt: skip


def test_codes_read_as_the_spec_words_them():
    assert value_label("U", AREA) == "urban" and format_value(AREA, "R") == "rural"
    assert value_label(0, LEVEL) == "no schooling" and format_value(LEVEL, 0.0) == "no schooling"


def test_values_without_words_stay_as_they_are():
    assert value_label(3, LEVEL) == "3" and format_value(LEVEL, 3) == "3"
    assert value_label(None, AREA) == "(missing)"
    assert value_label(True) == "yes"
