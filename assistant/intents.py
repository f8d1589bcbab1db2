"""Which intents a question has: a table of named rules over what the parser read.

Rules run in order; each sees the question's cues and the intents chosen so far, and adds its
intent (or, for a ``drop`` rule, removes it) when it applies. A question about a student goes
through ``STUDENT_RULES``, any other through ``GROUP_RULES``; "what can you do?" alone is the
capabilities intent and nothing else."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from assistant.parser import LIST_SIZE, Parse

ABOUT_INTERVENTIONS = re.compile(r"\b(?:interventions?|programs?|programmes?|options?|supports?)\b")
LIST_ASKED = re.compile(
    # "who are …" as the ask, not a clause ("students in quartile 1 who are at High risk")
    r"(?:^|[,;:?!.]\s*|\b(?:and|tell me|show me|know|see|list)\s+)who (?:are|is|should)\b|\blist (?:the |all )?(?:students|\d+)|"
    r"\bshow me (?:the )?(?:students|top \d+)|\btop \d+ (?:students|highest)"
)
# A rate asked of everyone, with no group or scope: the district-wide figure.
EVERYONE = re.compile(r"\b(?:of|among|for|across) (?:all|every|the whole|the entire)\b|\boverall\b")
# A rate asked for in so many words: "what fraction … is flagged High risk" is a rate, not a list.
RATE_ASKED = re.compile(
    r"\b(?:what|which|the) (?:fraction|share|proportion|percent(?:age)?|rate)\b|"
    r"\b(?:what|which|the) %|^\W*(?:percent(?:age)?|share|proportion|fraction|%) of\b"
)
# A group set against the rest: "are kids whose parents never finished school more at risk?"
AGAINST_THE_REST = re.compile(
    r"\b(?:more|less) (?:at[- ]risk|risky|likely to be (?:high|flagged))\b|\briskier\b|"
    r"\bthan (?:the )?(?:rest|others|everyone else|other (?:kids|students|pupils|learners))\b|"
    r"\bthan (?:the )?(?:ones|kids|students|pupils|learners|those) (?:who|that|with)\b"
)
# What is left of a question that only names a group: articles, student nouns, risk words.
BARE_GROUP = re.compile(
    r"\W*(?:(?:the|all|any|our|my|those|these|high|medium|low|moderate|risk|at|in|on|from|"
    r"with|of|kids?|students?|pupils?|learners?|children|ones|schools?|who|are|is|please|"
    r"pls)\b\W*)*"
)
MEAN_RISK_WORDS = re.compile(r"\b(?:mean|average|avg|typical) risk\b")
COSTS = re.compile(
    r"\b(?:cheap\w*|expensive|costs?|costly|price|spend\w*|per dollar|value for money|"
    r"bang for)\b"
)
# Words that ask for the summary itself, with or without groups ("equity summary by race").
SUMMARY_ASKED = re.compile(r"\bsummar\w*|\bequity (?:report|overview|breakdown|break ?down)\b")
# The equity summary named as such: asked for whatever measures the question names beside it.
SUMMARY_NAMED = re.compile(r"\bequity (?:summary|report)\b")
STRONG_MODEL = re.compile(r"\baccura\w*|\bauc\b|\bhow good\b|\bversion\b")


def rate_asked(p: Parse) -> bool:
    """A rate or a count asked for in so many words, not a list ("how many seniors are at High
    risk?" is answered by the share and its count, never a list of students)."""
    return bool(RATE_ASKED.search(p.text) or p.counts) and not LIST_ASKED.search(p.text)


def of_everyone(p: Parse) -> bool:
    """A rate of every student: "of all students", "overall", or a rate asked of no group
    ("what percentage of students are at High risk?")."""
    return bool(EVERYONE.search(p.text)) or (rate_asked(p) and not p.group_by)


@dataclass(frozen=True)
class Cues:
    """What the rules read: the parse, and whether it is about named students or a cohort."""

    parsed: Parse
    about_students: bool = False
    cohort: bool = False

    @property
    def words(self) -> set[str]:
        return self.parsed.intents

    @cached_property
    def groups(self) -> list[str]:
        """The columns to compare groups on: named as a breakdown, or mentioned, not filtered."""
        p = self.parsed
        return p.group_by or [c for c in p.mentioned_columns if c not in p.filters]

    @cached_property
    def wants_compare(self) -> bool:
        """Interventions named, help asked for, or "compare" said about interventions."""
        p = self.parsed
        # costs and moving students out of High are about interventions
        # ("no parent support at home" names a column, not an intervention)
        said = p.plain or p.text
        about = bool(ABOUT_INTERVENTIONS.search(said) or COSTS.search(p.text) or p.objective)
        return bool(p.interventions) or "help" in self.words or ("compare" in self.words and about)

    @property
    def compares_groups(self) -> bool:
        p = self.parsed
        listed = bool(LIST_SIZE.search(p.text)) and not p.group_by  # "rural or town …, show 30"
        return (
            "compare" in self.words
            and not self.wants_compare
            and bool(self.groups or p.filters)
            and not listed
        )

    @property
    def rate_of_scope(self) -> bool:
        """A rate or mean of a group, named by its values ("what fraction of 9th graders are
        High risk", "the average attendance of rural students")."""
        p = self.parsed
        named = {"share_high", "outcome_rate"} & set(p.metrics) or self.numeric_mentions
        explicit = named or MEAN_RISK_WORDS.search(p.text)
        scope = [k for k in p.filters if k != "risk_level"]
        return bool(explicit and scope and ("find" not in self.words or self.rate_asked))

    @property
    def against_the_rest(self) -> bool:
        p = self.parsed
        return bool(AGAINST_THE_REST.search(p.text)) and any(k != "risk_level" for k in p.filters)

    @property
    def rate_of_all(self) -> bool:
        """A rate of everyone: "what share of all students is at High risk?"."""
        p = self.parsed
        named = {"share_high", "outcome_rate"} & set(p.metrics)
        scope = [k for k in p.filters if k != "risk_level"]
        listed = "find" in self.words and not self.rate_asked
        return bool(named and of_everyone(p) and not listed and not scope)

    @property
    def rate_asked(self) -> bool:
        return rate_asked(self.parsed)

    @property
    def numeric_mentions(self) -> list[str]:
        p = self.parsed
        return [c for c in p.mentioned_columns if c in p.numeric_columns]


@dataclass(frozen=True)
class IntentRule:
    name: str
    intent: str
    when: Callable[[Cues, list[str]], bool]
    drop: bool = False

    def apply(self, cues: Cues, chosen: list[str]) -> None:
        if self.drop:
            if self.intent in chosen and self.when(cues, chosen):
                chosen.remove(self.intent)
        elif self.intent not in chosen and self.when(cues, chosen):
            chosen.append(self.intent)


def _plan(c: Cues, out: list[str]) -> bool:
    return "plan" in c.words or bool(c.parsed.budget)


def _fairness(c: Cues, out: list[str]) -> bool:
    return "fairness" in c.words or bool({"tpr", "fpr"} & set(c.parsed.metrics))


def _explain_student(c: Cues, out: list[str]) -> bool:
    # "compare the interventions for S1" asks for the comparison, not an explanation
    return "explain" in c.words or ("score" not in c.words and not c.wants_compare and not out)


# The score asked for in so many words, not "her risk" as what an intervention would lower.
SCORE_ASKED = re.compile(
    r"\bscor(?:e|es|ing)\b|\bhow (?:risky|likely)\b|\bprobabilit|\bchances?\b|\blevel\b|"
    r"\bnumbers?\b|\bwhat(?:'s| is| are)\b[^.?!]{0,25}\brisk\b"
)


# "Score A and explain why she's at risk": scoring asked for as a command, beside an explanation
SCORE_COMMAND = re.compile(
    r"^\W*(?:(?:please|pls|can you|could you|now|ok(?:ay)?),? )?scor(?:e|ing)\b"
)


def _score_student(c: Cues, out: list[str]) -> bool:
    lowered = c.wants_compare and not SCORE_ASKED.search(c.parsed.text)
    commanded = bool(SCORE_COMMAND.search(c.parsed.text))
    return "score" in c.words and ("explain" not in out or commanded) and not lowered


def _help_student(c: Cues, out: list[str]) -> bool:
    return "help" in c.words or (c.wants_compare and "plan" not in out)


def _find_beside_students(c: Cues, out: list[str]) -> bool:
    # "score S1 and S2, then the 5 riskiest in town schools"; "why is S1 flagged as at risk"
    # names a level, not another list
    p = c.parsed
    return "find" in c.words and (any(k != "risk_level" for k in p.filters) or bool(p.limit))


def _compare(c: Cues, out: list[str]) -> bool:
    return c.wants_compare and "plan" not in out


def _summary(c: Cues, out: list[str]) -> bool:
    asked = bool(SUMMARY_ASKED.search(c.parsed.text)) and not c.parsed.metrics
    # named, the summary is asked whatever measure is beside it, but for the model's error
    # rates: those are an ask of their own ("the FPR by gender? and the equity summary")
    errors = {"tpr", "fpr"} & set(c.parsed.metrics)
    asked = asked or (bool(SUMMARY_NAMED.search(c.parsed.text)) and not errors)
    # "for a grant report: what percentage … are High risk?": the rate, not a summary
    rate = c.rate_of_all or c.rate_of_scope
    return "summary" in c.words and (asked or not (("equity" in c.words and c.groups) or rate))


def _equity(c: Cues, out: list[str]) -> bool:
    p = c.parsed
    asked = (
        "equity" in c.words
        or "explain" in c.words
        or c.compares_groups
        or bool((p.metrics or c.numeric_mentions) and p.group_by)
        or c.rate_of_scope
        or c.rate_of_all
        or c.against_the_rest
    )
    scoped = (
        bool(c.groups)
        or bool(p.filters and "find" not in c.words)
        or "equity" in c.words
        or c.rate_of_all
        or c.rate_of_scope
        or c.against_the_rest
    )
    return (
        ("summary" not in out or bool(c.numeric_mentions))  # "… and the mean clicks by band"
        and asked
        # beside the model's error rates, a rate of the students asked in so many words
        and ("fairness" not in out or bool({"outcome_rate", "share_high"} & set(p.metrics)))
        and scoped
        and not ((p.interventions or c.wants_compare) and not p.group_by)
    )


def _lists(c: Cues, out: list[str]) -> bool:
    # "who are the riskiest in Scotland, and which intervention would help them?" asks for both
    asks_list = bool(LIST_ASKED.search(c.parsed.text))
    # "freshmen at high risk, show me 15": a number of students is a list
    # and a group named with nothing else ("high risk juniors in town schools?") is asked to see
    bare = bool(c.parsed.filters) and bool(BARE_GROUP.fullmatch(c.parsed.plain or "-"))
    wanted = "find" in c.words or ((bool(c.parsed.limit) or bare) and not out)
    beside_summary = "summary" in out and not asks_list  # "pull up an equity report"
    return (
        wanted and "plan" not in out and ("compare" not in out or asks_list) and not beside_summary
    )


def _summary_covers_fairness(c: Cues, out: list[str]) -> bool:
    # "a fairness and equity overview": the summary has the model's fairness section
    p = c.parsed
    model = re.search(r"\bmodel'?s?\b", p.text)  # "… plus the model's fairness headline"
    return "summary" in out and not c.groups and not {"tpr", "fpr"} & set(p.metrics) and not model


def _count_not_gap(c: Cues, out: list[str]) -> bool:
    # "how many high-risk seniors, and who are the top 3?": a count beside a list, not a gap
    # (a count asked alone is the share and its count: see ``rate_asked``)
    return _lists(c, out) and c.parsed.counts and not c.parsed.group_by and not c.rate_asked


def _find(c: Cues, out: list[str]) -> bool:
    # a rate, not a list: "what fraction …", "flagged High more often than …"
    rate = c.rate_asked or "share_high" in c.parsed.metrics
    answered = "equity" in out and (c.parsed.group_by or rate)
    return _lists(c, out) and not answered


def _model(c: Cues, out: list[str]) -> bool:
    strong = bool(STRONG_MODEL.search(c.parsed.text))
    return "model" in c.words and (not out or (strong and "fairness" in out))


def _cohort_scores(c: Cues, out: list[str]) -> bool:
    # "scores of the rural students": their risk as a group
    return not out and "score" in c.words and c.cohort


STUDENT_RULES: tuple[IntentRule, ...] = (
    IntentRule("plan cue or budget", "plan", _plan),
    IntentRule("fairness cue or error-rate metric", "fairness", _fairness),
    IntentRule("explain the student", "explain", _explain_student),
    IntentRule("score the student", "score", _score_student),
    IntentRule("help the student", "help_student", _help_student),
    IntentRule("a list beside the students", "find", _find_beside_students),
)
GROUP_RULES: tuple[IntentRule, ...] = (
    IntentRule("plan cue or budget", "plan", _plan),
    IntentRule("fairness cue or error-rate metric", "fairness", _fairness),
    IntentRule("compare interventions", "compare", _compare),
    IntentRule("equity summary", "summary", _summary),
    IntentRule("a summary covers fairness", "fairness", _summary_covers_fairness, drop=True),
    IntentRule("equity by group", "equity", _equity),
    IntentRule("a count is not a gap", "equity", _count_not_gap, drop=True),
    IntentRule("list students", "find", _find),
    IntentRule("the model", "model", _model),
    IntentRule("scores of a cohort", "equity", _cohort_scores),
)


def choose_intents(parsed: Parse, about_students: bool, cohort: bool) -> list[str]:
    """The intents of a question, in the order the rules chose them."""
    if "capabilities" in parsed.intents and not parsed.has_slots and len(parsed.intents) == 1:
        return ["capabilities"]
    cues = Cues(parsed, about_students, cohort)
    chosen: list[str] = []
    for rule in STUDENT_RULES if about_students else GROUP_RULES:
        rule.apply(cues, chosen)
    if {"score", "explain"} <= set(chosen) and SCORE_COMMAND.search(parsed.text):
        chosen.remove("score")  # "score A and explain …": in the order asked
        chosen.insert(chosen.index("explain"), "score")
    return chosen
