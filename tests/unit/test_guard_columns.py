"""The personal-data guard works on what a spec declares, not on the words of column names."""

from __future__ import annotations

from assistant import guard
from assistant.lexicon import build_lexicon
from data.spec import DatasetSpec


def _lexicon():
    spec = DatasetSpec.model_validate(
        {
            "name": "secondary",
            "outcome": {"rule": "G3 < 10"},
            "columns": [
                {"name": "address", "dtype": "category", "categories": ["U", "R"],
                 "role": "context", "value_labels": {"U": "urban", "R": "rural"}},
                {"name": "G3", "dtype": "int", "min": 0, "max": 20, "role": "outcome_source"},
                {"name": "absences", "dtype": "int", "min": 0, "max": 93, "role": "actionable"},
            ],
            "feature_sets": {"early": ["address", "absences"]},
        }
    )  # fmt: skip
    return build_lexicon(spec, {}, 7)


def test_a_column_called_address_is_asked_about_not_refused():
    lexicon = _lexicon()
    asked = "how does the outcome differ by address?"
    assert guard.check_request(asked, lexicon.column_patterns) is None


def test_personal_details_the_spec_does_not_hold_are_still_refused():
    lexicon = _lexicon()
    refused = guard.check_request("give me her phone number", lexicon.column_patterns)
    assert refused is not None and refused.kind == "personal_data"
    # Without the spec's words, the column name alone would have been refused.
    assert guard.check_request("how does the outcome differ by address?") is not None


def test_listing_students_by_a_protected_trait_is_refused_in_any_schema():
    from assistant.parser import Parser
    from assistant.planner import Planner
    from assistant.types import ConversationState

    lexicon = _lexicon()
    spec = lexicon.spec.model_copy(
        update={"columns": (*lexicon.spec.columns,
                            lexicon.spec.columns[0].model_copy(
                                update={"name": "sex", "categories": ("F", "M"),
                                        "role": "protected", "value_labels": {}}))}
    )  # fmt: skip
    lexicon = build_lexicon(spec, {}, 7)
    plan = Planner(lexicon).plan(Parser(lexicon).parse("list the highest-risk girls"),
                                 ConversationState())  # fmt: skip
    assert plan.refusal is not None and plan.refusal.kind == "protected"
    assert "sex" in plan.refusal.message
