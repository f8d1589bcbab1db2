"""The offline parser's vocabulary, built from the dataset spec and the intervention catalogue.

Every category value, column label and intervention of the spec in service is recognised with
no code change; the hand-written synonyms below add the everyday words for the built-in spec
("girls", "low-income", "freshmen", "hotspot") and are skipped for columns a spec lacks."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from data.spec import ColumnSpec, DatasetSpec, Role
from tools.cohort import FILTERABLE


@lru_cache(maxsize=1)
def load_vocabulary() -> dict:
    """The word lists in ``vocabulary.yaml`` (read once)."""
    return yaml.safe_load((Path(__file__).parent / "vocabulary.yaml").read_text(encoding="utf-8"))


@lru_cache(maxsize=4)
def _words(key: str) -> frozenset[str]:
    return frozenset(load_vocabulary()[key].split())


@lru_cache(maxsize=1)
def synonym_words() -> frozenset[str]:
    """Whole words inside the synonym patterns (typo targets such as "suburbs", "hotspots")."""
    words: set[str] = set()
    for key in ("value_synonyms", "attribute_synonyms", "intervention_synonyms", "grade_names"):
        stack = [load_vocabulary()[key]]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                stack.extend(item.values())
                stack.extend(k for k in item if isinstance(k, str))
            elif isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, str):
                plain = re.sub(r"\(\?:[^)]*\)\??|\[[^]]*\]|\\.|[?*+|()]", " ", item)
                words.update(w for w in plain.split() if len(w) >= 4 and w.isalpha())
    return frozenset(words)


def _table(key: str) -> dict:
    return load_vocabulary()[key]


_WORD = re.compile(r"[a-z][a-z'\-]+")


def words_of(*texts: str) -> set[str]:
    return {w for text in texts for w in _WORD.findall(text.lower()) if len(w) > 3}


def _split_name(name: str) -> str:
    """``SchoolType`` -> ``school type``; ``SES_Quartile`` -> ``ses quartile``."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).replace("_", " ")
    return spaced.lower()


def _value_pattern(value: str) -> str:
    return re.escape(value.lower()).replace(r"\-", "[- ]?").replace(r"\ ", " ")


@dataclass(frozen=True)
class Term:
    """One phrase the parser recognises and what it means."""

    pattern: re.Pattern[str]
    column: str
    value: object = None


@dataclass
class Lexicon:
    spec: DatasetSpec
    interventions: dict[str, str]  # name -> title
    id_width: int
    values: list[Term] = field(default_factory=list)
    negations: list[Term] = field(default_factory=list)
    attributes: list[Term] = field(default_factory=list)
    intervention_terms: list[Term] = field(default_factory=list)
    excluded_terms: list[Term] = field(default_factory=list)
    vocabulary: tuple[str, ...] = ()

    @property
    def protected(self) -> set[str]:
        return {c.name for c in self.spec.columns if c.role == Role.PROTECTED}

    def __call__(self, column: str) -> str:
        """The lexicon is the renderer's ``labels``: column -> words for people."""
        return self.label(column)

    @property
    def percent_columns(self) -> set[str]:
        return {c.name for c in self.spec.columns if c.format == "percent"}

    def label(self, column: str) -> str:
        if column == "risk_level":
            return "risk level"
        return self.spec.column(column).label or _split_name(column)

    def correct(self, text: str) -> str:
        """Fix misspelt domain words ("tutorng" -> "tutoring"), leaving other words alone."""
        return _WORD.sub(lambda m: _corrected(m.group(0), self.vocabulary), text)


@lru_cache(maxsize=8192)
def _corrected(word: str, vocabulary: tuple[str, ...]) -> str:
    if len(word) < 5 or word in vocabulary:
        return word
    close = difflib.get_close_matches(word, vocabulary, n=1, cutoff=0.82)
    return close[0] if close else word


def _compile(alternatives: list[str]) -> re.Pattern[str]:
    # A hyphen may follow ("private-school kids") but not precede ("non-rural").
    return re.compile(r"(?<![\w-])(?:" + "|".join(alternatives) + r")(?!\w)")


def _filterable(spec: DatasetSpec) -> list[ColumnSpec]:
    return [c for c in spec.columns if c.role in FILTERABLE]


def _value_terms(spec: DatasetSpec) -> list[Term]:
    terms: list[Term] = []
    names = {c.name for c in _filterable(spec)}
    for column, synonyms in _table("value_synonyms").items():
        for value, alternatives in synonyms.items():
            if column in names and value in (spec.column(column).categories or ()):
                terms.append(Term(_compile(alternatives), column, value))
    for col in _filterable(spec):
        if col.dtype == "category":
            for value in col.categories or ():
                if value.lower() not in _words("plain_words") and len(value) > 2:
                    terms.append(Term(_compile([_value_pattern(value)]), col.name, value))
    if "Grade" in names:
        terms += [
            Term(_compile([rf"{w}[- ]?grade(?:rs?)?", rf"grade {w}"]), "Grade", n)
            for w, n in _table("ordinals").items()
        ]
        terms += [Term(_compile([w]), "Grade", n) for w, n in _table("grade_names").items()]
    if "SES_Quartile" in names:
        terms += [
            Term(_compile(alts), "SES_Quartile", n) for n, alts in _table("ses_words").items()
        ]
    for col in _filterable(spec):
        if col.dtype == "int" and col.min is not None and col.max is not None:
            words = [
                *_table("attribute_synonyms").get(col.name, []),
                re.escape(_split_name(col.name)),
                re.escape((col.label or "").lower()),
            ]
            alts = [w for w in dict.fromkeys(words) if w]
            pattern = rf"(?<![\w-])(?:{'|'.join(alts)})[ -]?(\d{{1,2}})(?:st|nd|rd|th)?s?(?![\w-])"
            terms.append(Term(re.compile(pattern), col.name, "number"))
            ordinal = (
                rf"(?<![\w-])(\d{{1,2}})(?:st|nd|rd|th)[- ](?:{'|'.join(alts)})(?:rs?)?(?![\w-])"
            )
            terms.append(Term(re.compile(ordinal), col.name, "number"))
    return terms


def _attribute_terms(spec: DatasetSpec) -> list[Term]:
    terms = []
    for col in _filterable(spec):
        alts = list(_table("attribute_synonyms").get(col.name, []))
        alts += [re.escape(_split_name(col.name)), re.escape(col.name.lower())]
        if col.label:
            alts.append(re.escape(col.label.lower()))
        terms.append(Term(_compile(list(dict.fromkeys(alts))), col.name))
    numeric = [c for c in spec.columns if c.role not in FILTERABLE and c.dtype in ("int", "float")]
    for col in numeric:
        if col.role in (Role.ID, Role.OUTCOME_SOURCE, Role.EXCLUDED):
            continue
        alts = [re.escape(col.label.lower())] if col.label else []
        alts.append(re.escape(_split_name(col.name)))
        terms.append(Term(_compile(list(dict.fromkeys(alts))), col.name))
    return terms


def _negation_terms(spec: DatasetSpec) -> list[Term]:
    """ "no internet access" / "without extracurriculars" -> 0; "with a part-time job" -> 1."""
    terms = []
    for col in _filterable(spec):
        if col.dtype != "bool":
            continue
        alts = [
            *_table("attribute_synonyms").get(col.name, []),
            re.escape((col.label or "").lower()),
        ]
        noun = "(?:" + "|".join(a for a in alts if a) + ")"
        no = r"(?:no|without|lack(?:ing|s)?|don'?t have|do not have|missing|not in)"
        yes = r"(?:with|who have|having|has|have|in)"
        both = r"(?:with and without|without and with|with or without|with vs\.? without)"
        terms.append(Term(_compile([rf"{both} (?:any |a |home )?{noun}"]), col.name, "both"))
        terms.append(Term(_compile([rf"{no} (?:any |a |home )?{noun}"]), col.name, 0))
        terms.append(Term(_compile([rf"{yes} (?:a |home )?{noun}"]), col.name, 1))
    return terms


def build_lexicon(spec: DatasetSpec, interventions: dict[str, str], id_width: int) -> Lexicon:
    intervention_terms = []
    for name, title in interventions.items():
        alts = [
            *_table("intervention_synonyms").get(name, []),
            _value_pattern(name.replace("_", " ")),
            re.escape(name),
            _value_pattern(title),
        ]
        intervention_terms.append(Term(_compile(list(dict.fromkeys(alts))), name))
    spec_words = words_of(
        *(c.name for c in spec.columns),
        *(_split_name(c.name) for c in spec.columns),
        *(c.label or "" for c in spec.columns),
        *(v for c in spec.columns for v in (c.categories or ())),
        *interventions,
        *(n.replace("_", " ") for n in interventions),
        *interventions.values(),
    )
    # Correction targets: every word SARA knows, plain ones too ("stduents" -> "students").
    vocabulary = tuple(sorted(spec_words | _words("domain_words") | _words("plain_words")
                              | synonym_words()))  # fmt: skip
    return Lexicon(
        spec=spec,
        interventions=interventions,
        id_width=id_width,
        values=_value_terms(spec),
        negations=_negation_terms(spec),
        attributes=_attribute_terms(spec),
        intervention_terms=intervention_terms,
        excluded_terms=[
            Term(
                _compile([re.escape(c.name.lower()), re.escape((c.label or c.name).lower())]),
                c.name,
            )
            for c in spec.columns
            if c.role == Role.EXCLUDED
        ],
        vocabulary=vocabulary,
    )
