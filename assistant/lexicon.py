"""The offline parser's vocabulary, built from the dataset spec and the intervention catalogue.

Every category value, column label and intervention of the spec in service is recognised with
no code change; the hand-written synonyms below add the everyday words for the built-in spec
("girls", "low-income", "freshmen", "hotspot") and are skipped for columns a spec lacks."""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from data.catalogue import Intervention
from data.outcome_rule import conditions_of
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
    for key in ("value_synonyms", "attribute_synonyms", "intervention_synonyms"):
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


@lru_cache(maxsize=1)
def absent_pattern() -> re.Pattern[str]:
    """Words for information a dataset may not hold (``absent_attributes``)."""
    words = load_vocabulary()["absent_attributes"].split()
    return re.compile(r"\b(?:" + "|".join(w.replace(".", "[ -]") for w in words) + r")\b")


def _table(key: str) -> dict:
    return load_vocabulary()[key]


_WORD = re.compile(r"[a-z][a-z'\-]*[a-z]")  # a word ends with a letter ("over-55" keeps its hyphen)


def words_of(*texts: str) -> set[str]:
    return {w for text in texts for w in _WORD.findall(text.lower()) if len(w) > 3}


def _split_name(name: str) -> str:
    """``HomeRegion`` -> ``home region``; ``imd_Band`` -> ``imd band``."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).replace("_", " ")
    return spaced.lower()


def _value_pattern(value: str) -> str:
    """A value or phrase as typed: a hyphen may be left out or a space ("high-ses", "high ses"),
    a space may be a hyphen ("over-55")."""
    return re.escape(value.lower()).replace(r"\-", "[- ]?").replace(r"\ ", "[- ]")


def _plural(alternative: str) -> str:
    """An attribute word read in the singular or the plural ("qualifications" also reads
    "qualification levels"' first word; "region" also "regions"); patterns that do not end
    in a plain word are kept as they are."""
    if not re.search(r"[a-z]{4}$", alternative):
        return alternative
    if alternative.endswith("ss"):
        return alternative + "(?:es)?"
    if alternative.endswith("s"):
        return alternative + "?"
    if alternative.endswith("y"):
        return alternative[:-1] + "(?:y|ies)"
    return alternative + "s?"


def _common(words: list[str]) -> list[str]:
    """The everyday phrases ``common_synonyms`` adds for these words (a label, name, synonym,
    value label or category, compared in lower case)."""
    table = _table("common_synonyms")
    return [alt for word in words for alt in table.get(word.lower().strip(), [])]


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
    id_width: int  # digits of the ids SARA generates (prefix + zero-padded row number)
    values: list[Term] = field(default_factory=list)
    negations: list[Term] = field(default_factory=list)
    attributes: list[Term] = field(default_factory=list)
    intervention_terms: list[Term] = field(default_factory=list)
    excluded_terms: list[Term] = field(default_factory=list)
    number_lists: list[Term] = field(default_factory=list)
    thresholds: list[Term] = field(default_factory=list)  # bounds on number columns
    ranges: list[Term] = field(default_factory=list)
    vocabulary: tuple[str, ...] = ()
    # Which of these tokens are ids in the warehouse (None: nothing to check against).
    known_ids: Callable[[list[str]], set[str]] | None = None
    example_student: str | None = None  # an id of the served warehouse, for examples
    model_inputs: tuple[str, ...] = ()  # the served model's features (empty: not known)
    shorthand: re.Pattern[str] | None = None
    shorthand_words: dict[str, str] = field(default_factory=dict)
    costs: dict[str, float] = field(default_factory=dict)  # intervention -> cost per student
    # intervention -> (yes/no column it sets, the value it sets): "home internet for the ones
    # without it" scopes the question to the students the intervention would change
    switches: dict[str, tuple[str, int]] = field(default_factory=dict)
    # labels of two or more content words, with those words (see ``regroup``)
    scattered: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    label_words: set[str] = field(default_factory=set)  # every label's content words
    shared_words: set[str] = field(default_factory=set)  # content words of several labels
    column_words: dict[str, tuple[str, ...]] = field(default_factory=dict)  # label words
    outcome: re.Pattern[str] | None = None  # words for the outcome the spec defines

    @property
    def protected(self) -> set[str]:
        return {c.name for c in self.spec.columns if c.role == Role.PROTECTED}

    def __call__(self, column: str) -> str:
        """The lexicon is the renderer's ``labels``: column -> words for people."""
        return self.label(column)

    @property
    def column_patterns(self) -> list[re.Pattern[str]]:
        """The patterns naming the spec's usable columns (never an excluded one)."""
        return [term.pattern for term in self.attributes]

    @property
    def percent_columns(self) -> set[str]:
        return {c.name for c in self.spec.columns if c.format == "percent"}

    def label(self, column: str) -> str:
        if column == "risk_level":
            return "risk level"
        return self.spec.column(column).label or _split_name(column)

    def expand(self, text: str) -> str:
        """Shorthand and phonetic spellings read as the words they stand for ("shud" ->
        "should", "w/o" -> "without")."""
        if self.shorthand is None:
            return text
        return self.shorthand.sub(lambda m: self.shorthand_words[m.group(0)], text)

    def regroup(self, text: str) -> str:
        """A column's label said in other words order ("support from their parents at home"
        for "parent support at home", "time spent studying daily" for "daily study time") is
        rewritten as the label, when nothing of another column's label sits among its words."""
        for label, words in self.scattered:
            if label in text:
                continue
            others = self.label_words - set(words)
            # every word of the label, or its own words and one it shares with other labels
            # ("science score" for "science test score")
            own = tuple(w for w in words if w not in self.shared_words)
            partial = [(*own, w) for w in words if w not in own] if len(own) > 0 else []
            tokens = [(m.start(), m.end(), m.group(0)) for m in _TOKEN.finditer(text)]
            found = next(
                (
                    span
                    for wanted in (words, *partial)
                    for i in range(len(tokens))
                    if (span := _window(tokens, i, wanted, others)) is not None
                ),
                None,
            )
            if found is not None:
                text = text[: found[0]] + label + text[found[1] :]
        return text

    def sibling(self, column: str, text: str) -> str | None:
        """Another column named by the words its label does not share with ``column``'s:
        "reading too" after the mean math test score is the reading test score."""
        words = set(self.column_words.get(column, ()))
        tokens = [m.group(0) for m in _TOKEN.finditer(text)]
        for other, its in self.column_words.items():
            own = [w for w in its if w not in words]
            if other == column or not words & set(its) or not own:
                continue
            if all(any(_inflects(t, w) for t in tokens) for w in own):
                return other
        return None

    def absent_words(self, text: str) -> list[str]:
        """Words of ``text`` for information the served data does not hold: in
        ``absent_attributes`` and inside no phrase of a column or value of the spec
        ("religion" where no column is about it)."""
        asked = list(absent_pattern().finditer(text))
        if not asked:
            return []
        terms = (*self.attributes, *self.values, *self.negations, *self.excluded_terms)
        covered = [m.span() for term in terms for m in term.pattern.finditer(text)]
        # covered whole: "income" is the SES column's word; "household income" is not held
        missing = [
            m.group(0)
            for m in asked
            if not any(start <= m.start() and m.end() <= end for start, end in covered)
            and not SPEAKER_AFTER.match(text, m.end())  # "her teacher keeps asking me"
        ]
        return list(dict.fromkeys(missing))

    def correct(self, text: str) -> str:
        """Fix misspelt domain words ("tutorng" -> "tutoring"), leaving other words alone."""
        return _WORD.sub(lambda m: _corrected(m.group(0), self.vocabulary), text)


# A word for someone who speaks in the question, not information asked about: "her teacher
# keeps asking me", "my counselor said".
SPEAKER_AFTER = re.compile(
    r"s?\s+(?:keeps?|kept|asked|asks|is asking|was asking|says|said|wants|wanted|told|thinks|"
    r"thought|called|emailed|mentioned|needs|asked me)\b"
)


@lru_cache(maxsize=8192)
def _corrected(word: str, vocabulary: tuple[str, ...]) -> str:
    if len(word) < 5 or word in vocabulary or word.endswith("n't"):  # "aren't" is no "parent"
        return word
    close = difflib.get_close_matches(word, vocabulary, n=3, cutoff=0.82)
    # a short word is a typo of a word about its length ("since" is no "science")
    near = [c for c in close if abs(len(c) - len(word)) <= 1 or len(word) >= 8]
    return near[0] if near else word


_TOKEN = re.compile(r"[a-z0-9][a-z0-9'\-]*|[.?!;,]")
_LABEL_STOP = frozenset(re.findall(r"\w+", "a an the at of in on to for and or with per by from"))
_ENDINGS = ("", "s", "es", "al", "ing", "ed", "ly", "'s", "s'")


def _bare(label: str) -> str:
    """A label without its parenthesis: "activity (clicks a week)" -> "activity"."""
    return re.sub(r"\s*\([^)]*\)", "", label.lower()).strip()


def _content_words(label: str) -> tuple[str, ...]:
    bare = _bare(label)
    return tuple(w for w in re.findall(r"[a-z][a-z\-]*", bare) if w not in _LABEL_STOP)


def _inflects(token: str, word: str) -> bool:
    """ "parents"/"parental" are "parent"; "studying" is "study"; "activities" "activity"."""
    if word.endswith("y") and token in (word[:-1] + "ies", word[:-1] + "ied"):
        return True
    return any(token == word + ending for ending in _ENDINGS)


def _window(tokens, i: int, words: tuple[str, ...], others: set[str]) -> tuple[int, int] | None:
    """The span from token ``i`` holding every one of ``words`` within a few tokens, with no
    punctuation and no word of another label among them; None when there is none."""
    if not any(_inflects(tokens[i][2], w) for w in words):
        return None
    left, end = set(words), None
    for _, stop, token in tokens[i : i + len(words) + 3]:
        if token in ".?!;,":
            return None
        hit = next((w for w in left if _inflects(token, w)), None)
        if hit is not None:
            left.discard(hit)
            end = stop
            if not left:
                return tokens[i][0], end
        elif any(_inflects(token, w) for w in others):
            return None
    return None


def _loose(phrase: str) -> str:
    """A pattern for ``phrase`` as people vary it: its articles optional, its last word in the
    plural too ("in a relationship" also reads "in relationships")."""
    words = phrase.lower().split()
    if not words:
        return re.escape(phrase.lower())
    parts, article = [], False
    for i, word in enumerate(words):
        if word in ("a", "an", "the") and i < len(words) - 1:
            article = True
            continue
        piece = re.escape(word) + ("s?" if i == len(words) - 1 else "")
        parts.append(("(?:(?:a|an|the) )?" if article else "") + piece)
        article = False
    return " ".join(parts)


def _compile(alternatives: list[str]) -> re.Pattern[str]:
    # A hyphen may follow ("private-school kids") but not precede ("non-rural").
    return re.compile(r"(?<![\w-])(?:" + "|".join(alternatives) + r")(?!\w)")


def _filterable(spec: DatasetSpec) -> list[ColumnSpec]:
    return [c for c in spec.columns if c.role in FILTERABLE]


def _column_words(col: ColumnSpec) -> list[str]:
    """Patterns naming a column: the vocabulary's everyday words for it, the spec's label and
    synonyms, and its name split into words."""
    label = (col.label or "").lower()
    bare = _bare(label)
    names = [label, bare, _split_name(col.name), *col.synonyms]
    words = [
        *_table("attribute_synonyms").get(col.name, []),
        *(_value_pattern(w) for w in col.synonyms),
        re.escape(_split_name(col.name)),
        _value_pattern(label) if label else "",
        _value_pattern(bare) if bare else "",
        *_common(names),
    ]
    return [w for w in dict.fromkeys(words) if w]


def _stored_value(col: ColumnSpec, key: object) -> object | None:
    """The stored value a vocabulary or value_labels key names in this column, or None when the
    column cannot hold it (the word list belongs to another schema)."""
    if col.dtype == "category":
        return key if key in (col.categories or ()) else None
    if col.dtype == "bool":
        return {"true": 1, "false": 0}.get(str(key).lower())
    if col.dtype == "int":
        try:
            number = int(str(key))
        except ValueError:
            return None
        inside = (col.min is None or number >= col.min) and (col.max is None or number <= col.max)
        return number if inside else None
    return None


def _value_terms(spec: DatasetSpec) -> list[Term]:
    terms: list[Term] = []
    columns = {c.name: c for c in _filterable(spec)}
    for column, synonyms in _table("value_synonyms").items():
        for key, alternatives in synonyms.items():
            value = None
            if column in columns:  # "<HS|HS": a phrase for several values
                stored = [_stored_value(columns[column], k) for k in str(key).split("|")]
                if None not in stored:
                    value = stored[0] if len(stored) == 1 else tuple(stored)
            if value is not None:  # a space may be a hyphen: "low-ses", "high-income"
                alternatives = [re.sub(r"(?<!\[-) (?!\])", "[- ]", a) for a in alternatives]
                terms.append(Term(_compile(alternatives), column, value))
    for col in columns.values():
        if col.dtype == "category" and len(col.categories or ()) >= 2:
            # "non-disabled", "non-rural": every other value of the column
            for value in col.categories:
                others = tuple(v for v in col.categories if v != value)
                words = [col.value_labels.get(value, ""), value]
                alternatives = [rf"non[- ]?{_value_pattern(w)}" for w in words if len(w) > 2]
                if alternatives:
                    terms.append(Term(_compile(alternatives), col.name, others))
        for key, words in col.value_labels.items():
            value = _stored_value(col, key)
            if value is not None:
                # "over 55" also reads "over-55s"; "female" also "women" (common_synonyms)
                alternatives = [_value_pattern(words) + "s?", *_common([words])]
                terms.append(Term(_compile(alternatives), col.name, value))
        if col.dtype == "category":
            for value in col.categories or ():
                if value.lower() not in _words("plain_words") and len(value) > 2:
                    alternatives = [_value_pattern(value), *_common([value])]
                    terms.append(Term(_compile(alternatives), col.name, value))
    for col in columns.values():
        if col.dtype == "int" and col.min is not None and col.max is not None:
            alts = "|".join(_column_words(col))
            ordinals = [(w, n) for w, n in _table("ordinals").items() if col.min <= n <= col.max]
            terms += [
                Term(_compile([rf"{w}[- ]?(?:{alts})(?:rs?)?", rf"(?:{alts}) {w}"]), col.name, n)
                for w, n in ordinals
            ]
            pattern = rf"(?<![\w-])(?:{alts})[ -]?(\d{{1,2}})(?:st|nd|rd|th)?s?(?![\w-])"
            terms.append(Term(re.compile(pattern), col.name, "number"))
            ordinal = rf"(?<![\w-])(\d{{1,2}})(?:st|nd|rd|th)[- ](?:{alts})(?:rs?)?(?![\w-])"
            terms.append(Term(re.compile(ordinal), col.name, "number"))
    return terms


def _number_list_terms(spec: DatasetSpec) -> list[Term]:
    """Lists and ranges of a whole-number column: "grades 9 and 10", "grades 9-12",
    "9th and 10th graders" (value: the column's range, to keep the numbers inside it)."""
    terms = []
    for col in _filterable(spec):
        if col.dtype != "int" or col.min is None or col.max is None:
            continue
        alts = "|".join(_column_words(col))
        listed = rf"(?:{alts})s? (\d{{1,2}})((?:\s*(?:,|and|&|or|-|to)\s*\d{{1,2}})+)\b"
        ordinals = (
            r"\b(\d{1,2})(?:st|nd|rd|th)((?:\s*(?:,|and|&|or)\s*\d{1,2}(?:st|nd|rd|th))+)"
            rf"[- ](?:{alts})(?:rs?)?\b"
        )
        pattern = re.compile(rf"(?<![\w-]){listed}|{ordinals}")
        terms.append(Term(pattern, col.name, (int(col.min), int(col.max))))
    return terms


def _range_terms(spec: DatasetSpec) -> list[Term]:
    """ "the bottom two SES quartiles", "top half of <column>" for whole-number columns with
    few levels (value: the levels, lowest first)."""
    terms = []
    for col in _filterable(spec):
        if col.dtype != "int" or col.min is None or col.max is None or col.max - col.min > 9:
            continue
        alts = "|".join(_column_words(col))
        pattern = re.compile(
            r"\b(bottom|lowest|lower|top|highest|upper) (two|2|half)(?: of(?: the)?)? "
            rf"(?:{alts})s?(?![\w-])"
        )
        terms.append(Term(pattern, col.name, tuple(range(int(col.min), int(col.max) + 1))))
    return terms


# Words that compare a number with a bound, and the range operator each means.
COMPARISONS = {
    "below": "lt", "under": "lt", "less than": "lt", "lower than": "lt", "fewer than": "lt",
    "<": "lt", "<=": "lte", "at most": "lte", "no more than": "lte", "up to": "lte",
    "above": "gt", "over": "gt", "more than": "gt", "greater than": "gt", "higher than": "gt",
    ">": "gt", ">=": "gte", "at least": "gte", "no less than": "gte",
}  # fmt: skip


def _threshold_terms(spec: DatasetSpec) -> list[Term]:
    """A bound on a number column: "attendance below 85 %", "below 85% attendance",
    "credits studied over 60" (value: the column's format, to read a percent as a share)."""
    compare = "|".join(re.escape(w) for w in sorted(COMPARISONS, key=len, reverse=True))
    terms = []
    for col in _filterable(spec):
        if col.dtype not in ("int", "float"):
            continue
        alts = "|".join(_column_words(col))
        number = r"(\d+(?:\.\d+)?) ?(%|percent)?"
        after = (
            rf"(?<![\w-])(?:{alts})s?(?: rates?| levels?)? (?:is |are |was |of |at )?"
            rf"({compare}) ?{number}"
        )
        before = (
            rf"(?<![\w-])({compare}) ?{number} (?:in |of |on |for )?(?:their |the )?(?:{alts})s?\b"
        )
        terms.append(Term(re.compile(rf"{after}|{before}"), col.name, col.format))
    return terms


def _attribute_terms(spec: DatasetSpec) -> list[Term]:
    terms = []
    for col in _filterable(spec):
        alts = [*_column_words(col), re.escape(col.name.lower())]
        terms.append(Term(_compile([_plural(a) for a in dict.fromkeys(alts)]), col.name))
    numeric = [c for c in spec.columns if c.role not in FILTERABLE and c.dtype in ("int", "float")]
    for col in numeric:
        if col.role in (Role.ID, Role.OUTCOME_SOURCE, Role.EXCLUDED):
            continue
        terms.append(Term(_compile([_plural(a) for a in _column_words(col)]), col.name))
    return terms


def _negation_terms(spec: DatasetSpec) -> list[Term]:
    """ "no internet access" / "without extracurriculars" -> 0; "with a part-time job" -> 1."""
    terms = []
    for col in _filterable(spec):
        if col.dtype != "bool":
            continue
        alts = [
            *_table("attribute_synonyms").get(col.name, []),
            *(_value_pattern(w) for w in col.synonyms),
            re.escape((col.label or "").lower()),
        ]
        noun = "(?:" + "|".join(a for a in alts if a) + ")"
        # verbs of having or taking part: "who hold part-time jobs", "not doing any clubs"
        verb = (
            r"(?:have|has|hold|do|doing|get|getting|take|taking|work|working|play|playing|"
            r"receive|receiving|attend|attending|join|in)"
        )
        no = (
            rf"(?:no|nobody|no-?one|no one|without|lack(?:ing|s)?|missing|(?:don'?t|do not|doesn'?t|"
            rf"does not|not|"
            rf"never|aren'?t|isn'?t|are not|is not)(?: {verb})?)"
        )
        yes = (
            r"(?:with|who (?:have|has|hold|do|does|get|gets|take|takes|work|works|play|plays|"
            r"receive|receives|attend|attends|are in|is in)|having|has|have|holds?|holding|"
            r"doing|working|taking|getting|receiving|in)"
        )
        both = (
            r"(?:with and without|without and with|with or without|with vs\.? without|"
            # "split by whether the student has a part-time job": both, to compare
            r"whether (?:or not )?(?:the |a )?(?:students?|kids?|they|pupils?)? ?"
            rf"{yes.replace('(?:with|', '(?:', 1)}|whether or not)"
        )
        terms.append(Term(_compile([rf"{both} (?:any |a |an |home )?{noun}"]), col.name, "both"))
        terms.append(Term(_compile([rf"{no} (?:any |a |an |home )?{noun}"]), col.name, 0))
        terms.append(Term(_compile([rf"{yes} (?:a |an |home )?{noun}"]), col.name, 1))
    return terms


def _outcome_pattern(spec: DatasetSpec) -> re.Pattern[str] | None:
    """The outcome as staff name it, from the spec's rule: its source columns' labels and
    synonyms ("gpa", "final result"), the values that make it ("fail", "withdrawn") and a
    number's side of a threshold ("below a 2.0", "under 2.0")."""
    alternatives = []
    for cond in conditions_of(spec.outcome.tree):
        if cond.column not in spec.column_names:
            continue
        col = spec.column(cond.column)
        alternatives += [_value_pattern(w) for w in (col.label or "", *col.synonyms) if w]
        alternatives.append(re.escape(_split_name(col.name)))
        if cond.kind == "text":
            alternatives += [_value_pattern(v) for v in cond.values if len(v) > 2]
        if cond.kind == "number" and cond.op in ("<", "<=", ">", ">="):
            side = (
                "below|under|less than|lower than"
                if "<" in cond.op
                else ("above|over|more than|higher than")
            )
            number = re.escape(cond.values[0]).replace(r"\.0", r"(?:\.0)?")
            alternatives.append(rf"(?:{side})[- ](?:an? )?{number}")
    return _compile(list(dict.fromkeys(alternatives))) if alternatives else None


def switches_of(spec: DatasetSpec, catalogue: Iterable[Intervention]) -> dict[str, tuple[str, int]]:
    """The interventions that set a yes/no column, with that column and the value they set."""
    found = {}
    for iv in catalogue:
        for column, move in iv.moves.items():
            known = column in spec.column_names
            if move.op == "set" and known and spec.column(column).dtype == "bool":
                found[iv.name] = (column, int(move.value))
                break
    return found


def build_lexicon(
    spec: DatasetSpec,
    interventions: dict[str, str],
    id_width: int,
    known_ids: Callable[[list[str]], set[str]] | None = None,
    example_student: str | None = None,
    model_inputs: tuple[str, ...] = (),
    costs: dict[str, float] | None = None,
    switches: dict[str, tuple[str, int]] | None = None,
) -> Lexicon:
    labelled = [
        (_bare(c.label), _content_words(c.label))
        for c in spec.columns
        if c.label and c.role not in (Role.ID, Role.OUTCOME_SOURCE)
    ]
    intervention_terms = []
    for name, title in interventions.items():
        # "attendance outreach (family nudges)" is also said by either half
        halves = [h.strip() for h in re.split(r"[()]", title) if len(h.strip()) > 3]
        alts = [
            *_table("intervention_synonyms").get(name, []),
            _value_pattern(name.replace("_", " ")),
            re.escape(name),
            _value_pattern(title),
            *(_value_pattern(h) for h in halves if h != title),
        ]
        intervention_terms.append(Term(_compile(list(dict.fromkeys(alts))), name))
    spec_words = words_of(
        *(c.name for c in spec.columns),
        *(_split_name(c.name) for c in spec.columns),
        *(c.label or "" for c in spec.columns),
        *(v for c in spec.columns for v in (c.categories or ())),
        *(w for c in spec.columns for w in (*c.synonyms, *c.value_labels.values())),
        *interventions,
        *(n.replace("_", " ") for n in interventions),
        *interventions.values(),
    )
    # Correction targets: every word SARA knows, plain ones too ("stduents" -> "students").
    # Words for information a dataset may not hold are kept as typed ("religion" is never
    # corrected to a column called "region"), so SARA can say it does not have it.
    listed = re.sub(r"\(\?:(\w+)\|[^)]*\)", r"\1", load_vocabulary()["absent_attributes"])
    absent = words_of(re.sub(r"\w\?", "", listed).replace(".", " "))  # the singular forms
    absent |= {f"{word}s" for word in absent}  # and the plurals, kept as typed too
    vocabulary = tuple(sorted(spec_words | _words("domain_words") | _words("plain_words")
                              | synonym_words() | absent))  # fmt: skip
    # A one-letter shorthand ("y", "r", "u") is left alone when the spec stores it as a value.
    stored = {
        str(v).lower() for c in spec.columns for v in (*(c.categories or ()), *c.value_labels)
    }
    shorthand = {k: v for k, v in _table("shorthand").items() if len(k) > 1 or k not in stored}
    keys = sorted(shorthand, key=len, reverse=True)
    return Lexicon(
        shorthand=re.compile(r"(?<![\w/'-])(?:" + "|".join(map(re.escape, keys)) + r")(?![\w/'-])")
        if keys
        else None,
        shorthand_words=shorthand,
        spec=spec,
        interventions=interventions,
        id_width=id_width,
        known_ids=known_ids,
        example_student=example_student,
        model_inputs=model_inputs,
        costs=dict(costs or {}),
        switches=dict(switches or {}),
        values=_value_terms(spec),
        negations=_negation_terms(spec),
        attributes=_attribute_terms(spec),
        number_lists=_number_list_terms(spec),
        thresholds=_threshold_terms(spec),
        ranges=_range_terms(spec),
        intervention_terms=intervention_terms,
        excluded_terms=[
            Term(
                _compile(
                    [
                        re.escape(c.name.lower()),
                        *(_loose(w) for w in (c.label or c.name, *c.synonyms)),
                    ]
                ),
                c.name,
            )
            for c in spec.columns
            if c.role == Role.EXCLUDED
        ],
        vocabulary=vocabulary,
        scattered=[(label, words) for label, words in labelled if len(words) >= 2],
        label_words={w for _, words in labelled for w in words},
        shared_words={
            w for w, n in Counter(w for _, words in labelled for w in set(words)).items() if n > 1
        },
        outcome=_outcome_pattern(spec),
        column_words={
            c.name: _content_words(c.label)
            for c in spec.columns
            if c.label and c.role not in (Role.ID, Role.OUTCOME_SOURCE, Role.EXCLUDED)
        },
    )
