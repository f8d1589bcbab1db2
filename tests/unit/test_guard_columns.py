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
