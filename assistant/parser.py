"""The offline semantic parser: a question becomes intents and slots, deterministically.

In the spirit of TalkToModel's grammar parser, but lexical: phrases are matched on the text
after misspelt domain words are corrected, and each slot extractor consumes the span it used so
that "high-risk" in "share of high-risk students" is a metric, not also a filter. Intents are
cues, not a single label, so one question can ask for two things ("why … and what would
help?")."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from assistant.lexicon import COMPARISONS, Lexicon, load_vocabulary
from tools.students import FindStudentsInput

Scalar = str | int | float | bool


@lru_cache(maxsize=1)
def cue_patterns() -> dict[str, re.Pattern[str]]:
    """Intent -> one pattern of its cue phrases (from vocabulary.yaml)."""
    return {
        intent: re.compile("|".join(cues)) for intent, cues in load_vocabulary()["cues"].items()
    }


STUDENT_PRONOUNS = re.compile(
    r"\b(?:she|her|hers|he|him|his|this student|that student|the student|this kid|that kid|"
    r"this (?:boy|girl)|same student)\b"
)
COHORT_REFS = re.compile(
    r"\b(?:them|they|their|these students|this group|those students|that group|"
    r"same group|there|(?:those|these|the) same (?:students|kids|ones|pupils|learners)|"
    r"(?:those|these) (?:kids|ones|pupils|learners)|which of (?:those|these|them))\b"
)
ALL_STUDENTS = re.compile(
    r"\b(?:all|every|whole|entire|everyone|everybody|district[- ]wide|school[- ]wide|"
    r"overall|in general)\b"
)
METRICS: list[tuple[str, re.Pattern[str]]] = [
    (
        "share_high",
        re.compile(
            r"(?:\b(?:share|proportion|percent(?:age)?|fraction|rate|number|how many|count|"
            r"head ?count|how often)\b|%)[^.?!,;]{0,70}?\b(?:high[- ]?risk|at[- ]risk|flagged "
            r"(?:as )?high|(?:top|highest) risk (?:band|level|tier|category|group))\b|"
            r"\b(?:high|at)[- ]risk (?:rate|share|percentage)s?\b|\bshare high\b|"
            r"\bwho (?:gets|get|is|are) flagged\b|"
            # "are boys more likely than girls to be high risk?"
            r"\b(?:more|less|as) likely\b[^.?!,;]{0,40}?\b(?:to be |to get |to end up )?(?:at )?"
            r"(?:high[- ]?risk|flagged)\b|"
            r"\b(?:more|fewer|less)\b[^.?!,;]{0,20}\bflagged (?:as )?high\b|"
            # "are boys flagged high risk more often than girls"
            r"\b(?:high[- ]?risk|flagged (?:as )?high)\b[^.?!,;]{0,20}"
            r"\b(?:(?:more|less|as) often|more than|less than|fewer than)\b"
        ),
    ),
    (
        "tpr",
        re.compile(
            r"\btrue positive(?: rates?)?\b|\btpr\b|\brecall\b|\bsensitivity\b|"
            r"\bmiss(?:es|ed)?\b|\bcatch(?:es)?\b|\bdetection rates?\b"
        ),
    ),
    (
        "fpr",
        re.compile(
            r"\bfalse positive(?: rates?)?\b|\bfpr\b|\bfalse alarms?\b|"
            r"\bover-?flag\w*|\bwrongly flag\w*"
        ),
    ),
    (
        "outcome_rate",
        re.compile(
            r"\boutcomes?(?: rates?)?\b|\bfail(?:ing|ure|s)?(?: rates?)?\b|\bprobation\b|"
            r"\bactual(?:ly)?\b|\breal (?:results?|outcomes?)\b|\bperformance\b|\bstruggl\w*|"
            r"\bgrades? below\b|\bacademic(?:ally)?\b"
        ),
    ),
    ("mean_risk", re.compile(r"\brisk(?: scores?| levels?)?\b|\bpredicted\b|\brisk(?:y|ier)\b")),
]
# A model set against a rule of thumb: "is it any better than just looking at attendance?"
BASELINE_ASKED = re.compile(
    r"\b(?:better|worse|more accurate|smarter)\b[^.?!]{0,20}?\bthan (?:just |simply |only |"
    r"merely )?(?:looking at|using|going (?:by|off|on)|checking|eyeballing|relying on|guessing|"
    r"flagging|picking|pulling|"
    r"chance|random|a (?:simple|naive) (?:rule|baseline|guess))\b[^.?!,;]{0,40}|"
    # "how accurate is it, compared to a simple baseline?"
    r"\bcompared? (?:to|with|against) (?:a |the )?(?:(?:simple|naive|basic|dumb|trivial) )?"
    r"(?:[\w-]+ ){0,2}(?:baseline|rule of thumb|guess\w*)\b[^.?!,;]{0,40}|"
    # "does it beat a dumb rule like flagging everybody with bad attendance?"
    r"\b(?:beat|beats|outperform\w*|outdo\w*)\b[^.?!]{0,15}?\b(?:a |the )?(?:(?:simple|naive|"
    r"basic|dumb|trivial|crude) )?(?:rule|baseline|guess\w*|heuristic)\b[^.?!,;]{0,60}"
)
# The model's skill at ordering students, not a ranking asked for: "how well does the model rank
# students (ROC-AUC)?" (group 1: the words that would read as a list)
MODEL_RANKS = re.compile(
    r"\bmodel\b[^.?!,;]{0,12}?\b((?:rank|sort|order|separate)s? (?:the |our )?(?:students|kids|"
    r"pupils|learners))\b"
)
# The model's inputs asked about: "does the model use race or gender as inputs?"
INPUTS_ASKED = re.compile(
    r"\b(?:use|uses|using|used|consider|considers|include|includes|look at|looks at|take into "
    r"account)\b[^.?!]{0,40}?\bas (?:an? )?(?:inputs?|features?|predictors?|variables?)\b|"
    r"\b(?:is|are) [^.?!]{1,30}\b(?:an? )?(?:inputs?|features?|predictors?)(?= (?:to|of|in|for) "
    r"(?:the|this|your) (?:risk )?model\b)"
)
# The words that make a comparison with a rule of thumb a question about the model itself.
RULE_OF_THUMB = re.compile(r"\b(?:rule|baseline|guess\w*|heuristic)\b")
BUDGET = re.compile(
    r"(?:\$|usd ?|£|€|gbp ?|eur ?)\s?(\d[\d,]*(?:\.\d+)?)\s?(k|m|thousand|million|grand)?\b|"
    r"\b(\d[\d,]*(?:\.\d+)?)\s?(k|m|thousand|million|grand)?\s?"
    r"(?:dollars|usd|bucks|pounds|quid|euros?|gbp|eur)\b|"
    r"\bbudget (?:of |is |at |=\s?)?(\d[\d,]*(?:\.\d+)?)\s?(k|m|thousand|million|grand)?\b|"
    r"\b(\d[\d,]*(?:\.\d+)?)\s?(k|thousand|million|grand)\b|"
    # "15,000 left in the budget", "10,000 to spend": a sum the words around make money
    r"\b(\d{1,3}(?:,\d{3})+|\d{4,7})()(?= (?:left|to spend|available|remaining)\b|"
    r"[^.?!]{0,40}\bbudget)"
)
# A sum that caps what one student's intervention may cost ("costing under $500 per student"),
# not a budget: the words just before and just after the sum.
CAP_BEFORE = re.compile(
    r"\b(?:under|below|less than|at most|no more than|up to|cheaper than|max(?:imum)?(?: of)?|"
    r"within|not over|not more than)\s*$|<=?\s*$"
)
CAP_AFTER = re.compile(r"\s*(?:or (?:less|under|below|cheaper)|max(?:imum)?|at most|tops)\b")
PER_HEAD = re.compile(
    r"\s*(?:(?:a|per) year\s+)?(?:per|a|each|for each|for every) (?:student|kid|pupil|child|"
    r"learner|head|participant|person)\b|\s*each\b"
)
# A sum a plan question gives with no word for money: "plan for 10,000 in the north".
PLAN_SUM = re.compile(r"(?<![\w.,])(\d{1,3}(?:,\d{3})+)(?![\w.,]|,\d)")
# A sum spelt out: "two hundred grand", "fifty-five thousand dollars", "half a million".
_UNITS = re.findall(
    r"\w+",
    "zero one two three four five six seven eight nine ten eleven twelve "
    "thirteen fourteen fifteen sixteen seventeen eighteen nineteen",
)
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
        "eighty": 80, "ninety": 90}  # fmt: skip
_SPELT = r"(?:a|an|" + "|".join(_UNITS[1:]) + "|" + "|".join(TENS) + r"|hundred)"
MONEY_WORDS = re.compile(
    rf"\b({_SPELT}(?:[- ](?:and[- ])?{_SPELT})*|half(?: of)? an?|a quarter(?: of)?(?: an?)?|"
    r"(?:a|one) and a half|a couple(?: of)?(?: hundred)?) "
    r"(thousand|million|mil|grand|k|hundred dollars|hundred bucks|dollars|bucks)\b(?! total)"
)


def spelt_number(words: str) -> float | None:
    """ "two hundred" -> 200, "fifty-five" -> 55, "half a" -> 0.5; None when not a number."""
    fixed = {"half a": 0.5, "half an": 0.5, "half of a": 0.5, "a quarter a": 0.25,
             "a quarter of a": 0.25, "a quarter": 0.25, "a quarter of": 0.25, "a and a half": 1.5, "one and a half": 1.5, "a couple": 2,
             "a couple of": 2, "a couple hundred": 200, "a couple of hundred": 200}  # fmt: skip
    if words in fixed:
        return fixed[words]
    total, current, seen = 0, 0, False
    for word in re.split(r"[- ]+", words):
        if word == "and":
            continue
        if word in ("a", "an"):
            current, seen = current + 1, True
        elif word in _UNITS:
            current, seen = current + _UNITS.index(word), True
        elif word in TENS:
            current, seen = current + TENS[word], True
        elif word == "hundred":
            current, seen = max(current, 1) * 100, True
        else:
            return None
    return float(total + current) if seen else None


# A budget given against the conversation's last one: "twice that", "double the budget",
# "half as much" (a factor), "another $20k", "$10k more" (a sum added).
BUDGET_SCALE = re.compile(
    # "if the budget doubled", "with our funding halved"
    r"\b(?:the |our )?(?:budget|amount|money|funding) (?:was |were |is |got |gets )?"
    r"(doubled|tripled|halved)\b|"
    r"\b(?:(twice|double[ds]?|doubling|triple[ds]?|tripling|half|halve[ds]?|halving)|"
    r"(\d+(?:\.\d+)?) ?(?:x|times))(?: of)? (?:that|this|it|"
    r"the (?:budget|amount|money|sum|funding)|our (?:budget|funding)|as much(?: money)?|"
    r"what we (?:had|have))\b"
)
SCALES = {"twice": 2.0, "doubl": 2.0, "tripl": 3.0, "half": 0.5, "halv": 0.5}
ADDED_BEFORE = re.compile(r"\b(?:another|an extra|an additional|additional|extra)\s*$")
ADDED_AFTER = re.compile(r"\s*(?:more|extra|on top)\b")
# The next page of the last list: "show me the next 25", "more please", "next page".
_PAGE_N = r"(\d{1,3}|ten|twenty|fifty|five|fifteen|twenty-five|hundred)"
PAGE = re.compile(
    rf"\bnext {_PAGE_N}\b|\b(?:the )?(?:next|following) (?:page|batch|set|lot|ones|few|"
    rf"students|kids|names|results|rows)\b|\b(?:show|give|list|see)(?: me)? (?:{_PAGE_N} )?more\b|"
    rf"\b{_PAGE_N} more\b(?! (?:students|kids) (?:in|at|with|who|than))|"
    r"^\W*(?:(?:ok|okay|and|yes|please|pls)\W+)*more(?: please| pls| of them)?\W*$|"
    r"\bkeep going\b|\b(?:show|list|see|give me)(?: me)? the rest\b"
)
PAGE_WORDS = {"ten": 10, "twenty": 20, "fifty": 50, "five": 5, "fifteen": 15, "twenty-five": 25,
              "hundred": 100}  # fmt: skip


# Both sides of a yes/no column named just before: "… parent support? with vs without it".
WITH_AND_WITHOUT_IT = re.compile(
    r"\bwith (?:vs\.?|versus|or|and|compared to) without (?:it|them|one|that)\b"
)
# The students an intervention that switches a yes/no column on would change: "home internet
# for the kids who don't have it", "giving it to the ones without it".
LACKS_IT = re.compile(
    r"\b(?:ones|kids|students|pupils|learners|children|those|people|families|them)\s+"
    r"(?:who|that)\s+(?:don'?t|do not|doesn'?t|does not|never)\s+(?:already\s+)?"
    r"(?:have|get|got|use)\s+(?:it|one|that|this|them|any)\b|"
    r"\b(?:ones|kids|students|pupils|learners|children|those|people|families)\s+"
    r"(?:without|lacking|missing)\s+(?:it|one|that|this|them|any)\b|"
    r"\bwho (?:lack|are missing) (?:it|one|that|this)\b"
)
# A plan's equity rule: "at least 40 % of the students we treat have to come from <group>",
# "at least 40% of the money going to <group> students". The group follows within EQUITY_REACH.
EQUITY_SHARE = re.compile(
    r"\bat least (\d{1,2}(?:\.\d+)?) ?(?:%|percent|per ?cent)"
    r"(?: of (?:(?:the|our|that|this) )?(?:(money|budget|funds?|funding|spend(?:ing)?|dollars|"
    r"cash)|[\w ]{0,40}?))?"
    r"(?=\s+(?:should |must |has to |have to |needs? to |will |would |is |are )?"
    r"(?:go(?:es|ing)? to|come from|be from|be in|be spent on|spent on|from|in|for|on|to)\b)"
)
EQUITY_REACH = 45
# One of the students the last answer listed: "explain the first one", "the last kid".
PICK = re.compile(
    r"\bthe (first|second|third|last|1st|2nd|3rd) (?:one|student|kid|pupil|learner|name|person|"
    r"of (?:them|those|these))\b"
)
# The riskiest of the students just named: "score A, B and C, then explain the riskiest one".
PICK_TOP = re.compile(
    r"\bthe (?:riskiest|highest[- ]risk|most at[- ]risk|highest|worst) "
    r"(?:one|student|kid|of (?:them|those|these|the (?:two|three|four|five|lot)))\b|"
    r"\bwhichever (?:one )?(?:is|'s|scores?) (?:the )?(?:riskiest|highest|most at[- ]risk|worst)\b|"
    r"\bthe one (?:with the highest (?:risk|score)|most at[- ]risk|at (?:the )?highest risk)\b"
)
PICKS = {"first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "last": -1}


# Words before values that make them the scope, not groups to compare.
ONLY_BEFORE = re.compile(
    r"\b(?:only|just|whose|where|limited to|restricted to|excluding)\b[^.?!,;]{0,30}$"
)
# A request for a list before values joined by "or": they are the scope of the list.
LIST_BEFORE = re.compile(
    r"^\W*(?:please |pls |can you |could you )?(?:find|list|show|pull up|give)\b|"
    r"^\W*(?:the )?(?:top )?\d+ (?:highest|riskiest|most)\b"  # "20 highest risk students …"
)
# How many to list, said anywhere ("…, show 30", "top 5"): values joined by "or" are its scope.
LIST_SIZE = re.compile(
    r"\b(?:show|list|give)(?: me)? (?:the )?(?:top |first )?\d+\b|\b(?:top|first) \d+\b"
)
BREAKDOWN_BEFORE = re.compile(r"\b(?:by|across|per|each|between|among)\s+(?:the\s+|different\s+)?$")
# "average number of posts" asks for a mean, not a count
AVERAGE_COUNT = re.compile(r"\b(?:average|avg|mean|typical) ((?:number|count|amount) of)\b")
NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "fifty": 50,
    "a dozen": 12,
    "hundred": 100,
}
_N = r"(\d{1,6}|" + "|".join(NUMBER_WORDS) + r")"
# find_students lists at most this many at once (its own input model's bound).
MAX_LIMIT = next(m.le for m in FindStudentsInput.model_fields["limit"].metadata if hasattr(m, "le"))
LIMIT = re.compile(
    rf"\b(?:top|first) {_N}\b(?! ?(?:k|thousand|%|percent))|"
    rf"\b{_N} (?:highest|riskiest|most|students|kids|at[- ]risk)\b|"
    rf"\b{_N} of (?:them|those|em)\b|"
    # "bump it to 25" after a list, "25 instead"
    rf"\b(?:bump|make|raise|increase|up|change|take) (?:it|that|this|the list)(?: up)? to {_N}\b|"
    rf"\bmake it {_N}\b|"
    rf"\b{_N} instead\b|"
    rf"\bshow me {_N}\b|\bshow {_N}\W*$"
)
CAPACITY = re.compile(
    r"\b(?:at most|up to|max(?:imum)?(?: of)?|no more than|only) (\d{1,6}) "
    r"(?:students |kids |pupils |learners |places |seats |slots )?(?:in|for|of|on) (\w[\w ]*)"
)
# "cap tutoring at 30 kids", "capping mentoring at 40"
CAPACITY_CAP = re.compile(r"\bcap(?:ped|ping)? (?!at\b)(\w[\w ]*?) at (\d{1,6})\b")
# "tutoring can take 40", "tutoring capped at 30 kids"
CAPACITY_AFTER = re.compile(
    r"(\w[\w ]*?) (?:can take|can serve|takes|has room for|has capacity for|(?:is )?capped at|"
    r"limited to|capacity(?: of)?) (?:at most |up to |only |max(?:imum)? )?(\d{1,6})\b"
)
# A level named as what the scope is not limited to: "not just the at-risk ones".
NOT_JUST_LEVEL = re.compile(
    r"\bnot (?:just|only) (?:the )?(?:at[- ]risk|high[- ]risk|medium[- ]risk|flagged|high|risky)"
    r"(?: ones| students| kids)?\b"
)
# Words that make a sum a budget, whatever follows it.
PLAN_WORDS = re.compile(r"\b(?:budget|plan\w*|spend\w*|allocat\w*|afford|grant|funds?|to work with)\b")
# "attendance between 70% and 85%": a range, read as its two bounds.
BETWEEN = re.compile(r"\bbetween (\d+(?:\.\d+)? ?(?:%|percent)?) and (\d+(?:\.\d+)? ?(?:%|percent)?)")
AN_HOUR = re.compile(r"\b(under|over|less than|more than|at least|at most|below|above) an hour\b")
# A second bound on the same column right after one: "attendance of at least 70% but under 85%"
BOUND_MORE = re.compile(
    r",? (?:but|and|yet) (?:also )?("
    + "|".join(re.escape(w) for w in sorted(COMPARISONS, key=len, reverse=True) if w[0].isalpha())
    + r") (\d+(?:\.\d+)?) ?(%|percent)?"
)
# Another cap said right after one: "tutoring can take at most 40 kids and mentoring 25".
CAPACITY_MORE = re.compile(
    r"(?: (?:kids|students|places|seats|slots|pupils))?,? (?:and |,? ?)(?:for )?"
    r"([a-z][\w ]*?) (?:at |to |at most |up to |max |only )?(\d{1,6})\b"
)
# … or with the number first: "at most 50 kids in tutoring and 80 in mentoring"
CAPACITY_MORE_FIRST = re.compile(
    r",? (?:and |, ?)(\d{1,6}) (?:students |kids |pupils |learners |places |seats |slots )?"
    r"(?:in|for|on) ([a-z][\w ]*?)(?=[,.;?!]|$| and\b)"
)
CONTRAST = re.compile(
    r"\b(?:vs|versus|compar\w*|differ\w*|between|against|stacks? up|gaps?|or|more likely|"
    r"less likely|better|worse|"
    r"more often|less often)\b"
)
_HAVING = (
    r"(?:(?:do|does) not |don't |doesn't )?(?:are|is|were|was|have|has|had|lack|live|attend|"
    r"go to|come from)"
)
# The make-up of a scope: "what share of the high-risk students are girls?", "how many of
# the kids under 70 % attendance are in 9th grade?" (the value is said after the verb).
COMPOSITION = re.compile(
    r"\b(?:(?:what|which|the) (?:share|proportion|percent(?:age)?|fraction|%|part)|what %|"
    r"how many) of (?:the |our |all |these |those )?[^?.!;]{1,80}? (?P<verb>" + _HAVING + r") "
    r"(?P<value>[^?.!,;]{1,40})"
)
# … with the scope said first: "of all the students at high risk, what fraction don't have
# internet at home?"
COMPOSITION_AFTER = re.compile(
    r"\bof (?:all )?(?:the |our |these |those )?[^?.!;]{1,80}?, (?:(?:what|which) (?:share|"
    r"proportion|percent(?:age)?|fraction|%|part)|what %|how many)(?: of them)? "
    r"(?P<verb>" + _HAVING + r") (?P<value>[^?.!,;]{1,40})"
)
# "the student" said of any student: "split by whether the student works a part-time job".
GENERIC_STUDENT = re.compile(r"\b(?:whether|if) (?:the|a|each) student\b")
# The interventions, not groups, set side by side: "compare every intervention for 11th and
# 12th graders" keeps both grades as the scope.
INTERVENTIONS_COMPARED = re.compile(
    r"\bcompar\w*\s+(?:all\s+|every\s+|each\s+|the\s+|our\s+)*(?:interventions?|programm?es?|"
    r"options?|supports?)\b"
)
COUNTS = re.compile(r"\bhow many\b|\bnumber of\b|\bcount of\b|\bcount the\b|\bhead ?count\b")
OUT_OF_HIGH = re.compile(
    r"\bout of (?:the )?high(?:[- ]risk)?(?: (?:category|level|group|band))?\b|"
    r"\bleave (?:the )?high(?:[- ]risk)?\b|\bmove\w* .*below high\b|"
    r"\bnumber of students (?:moved|out)\b"
)
RISK_LEVELS = [
    (
        "High",
        re.compile(
            r"\b(?:high[- ]?risk|at high risk|(?<!most )(?<!more )(?<!less )at[- ]risk|"
            r"high[- ]level|flagged (?:as )?high|high-risk ones|(?<=the )high ones|"
            r"(?:top|highest) risk (?:band|level|tier|category|group))\b"
        ),
    ),
    (
        "Medium",
        re.compile(
            r"\b(?:med(?:ium)?[- ]?risk|moderate[- ]?risk|at medium risk|medium level|"
            r"(?:medium|moderate) ones)\b"
        ),
    ),
    ("Low", re.compile(r"\b(?:low[- ]?risk|at low risk|low level|low-risk ones|(?<=the )low ones)\b")),
]
GROUP_MARKERS = re.compile(
    r"\b(?:by|across|between|among|per|for each|for different|of different|in different|"
    r"vary|varies|differ\w*|compared? (?:to|with)|on|split|each|groups?)\b"
)


class Bounds(dict):
    """A range filter read from a question ({"lt": 0.85}); hashable, so a filter's values can
    be compared as sets whatever they hold."""

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items())))


@dataclass
class Parse:
    """What the parser read in one question."""

    text: str
    intents: set[str] = field(default_factory=set)
    student_ids: list[str] = field(default_factory=list)
    student_ref: bool = False
    cohort_ref: bool = False
    filters: dict[str, list[Scalar]] = field(default_factory=dict)
    group_by: list[str] = field(default_factory=list)
    mentioned_columns: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    interventions: list[str] = field(default_factory=list)
    budget: float | None = None
    budget_scale: float | None = None  # "twice that": the conversation's budget times this
    budget_added: bool = False  # "another $20k": ``budget`` is added to the conversation's
    page: int | None = None  # "the next 25" of the last list (0: as many as it showed)
    pick: int | None = None  # "the first one": which of the last answer's students (-1: last)
    pick_top: bool = False  # "explain the riskiest one" of the students this question names
    cost_cap: float | None = None  # the most one student's intervention may cost
    # the plan's equity rule ("at least 40 % of those treated from SES quartile 1"), and
    # whether it was said of the money (the planner counts students treated)
    equity: dict[str, Any] | None = None
    equity_of_money: bool = False
    limit: int | None = None
    capacity: dict[str, int] = field(default_factory=dict)
    objective: str | None = None
    all_students: bool = False
    counts: bool = False
    numeric_columns: list[str] = field(default_factory=list)  # columns to average
    problems: list[str] = field(default_factory=list)  # values the data cannot have
    absent: list[str] = field(default_factory=list)  # words for information the data lacks
    # one ask of a question of several with no scope of its own keeps the question's ("for
    # Town schools: the outcome rate, plus a full equity summary")
    carry_scope: bool = False
    value_at: dict[str, list[int]] = field(default_factory=dict)  # where each filter's values are
    # "what share of the high-risk students are girls?": the values whose share of the scope
    # is asked, by column (the column is the breakdown)
    composition: dict[str, list[Scalar]] = field(default_factory=dict)
    plain: str = ""  # the text without what the slots used or the columns it names

    @property
    def has_slots(self) -> bool:
        return bool(
            self.student_ids
            or self.filters
            or self.group_by
            or self.interventions
            or self.budget
            or self.budget_scale
            or self.page is not None
            or self.pick is not None
            or self.metrics
            or self.mentioned_columns
            or self.limit
            or self.capacity
            or self.objective
        )


def _money_words(match: re.Match[str]) -> str:
    """ "fifty thousand" -> "50 thousand", "half a million" -> "500 thousand", "two hundred
    grand" -> "200 grand", "five hundred dollars" -> "500 dollars"."""
    number, unit = spelt_number(match.group(1)), match.group(2)
    if number is None:
        return match.group(0)
    if unit.startswith("hundred "):
        number, unit = number * 100, unit.split()[1]
    if unit in ("million", "mil") and number != int(number):
        number, unit = number * 1000, "thousand"  # "half a million": 500 thousand
    return f"{number:g} {'million' if unit == 'mil' else unit}"


def normalise(text: str, lexicon: Lexicon) -> str:
    text = text.replace("’", "'").replace("‘", "'").replace("–", "-").replace("—", " ")
    text = re.sub(r"\s+", " ", text.strip().lower())
    text = re.sub(r"(?<=[a-z])_(?=[a-z])", " ", text)  # "share_high", "age_band" as words
    text = lexicon.expand(text)
    text = MONEY_WORDS.sub(_money_words, text)
    text = BETWEEN.sub(r"at least \1 and at most \2", text)  # a range as its two bounds
    text = AN_HOUR.sub(r"\1 1 hour", text)  # "under an hour a day"
    return lexicon.regroup(lexicon.correct(text))


def _blank(text: str, match: re.Match[str]) -> str:
    return text[: match.start()] + " " * (match.end() - match.start()) + text[match.end() :]


def _number(word: str) -> int:
    return int(word) if word.isdigit() else NUMBER_WORDS[word]


def _money(amount: str, unit: str | None) -> float:
    value = float(amount.replace(",", ""))
    units = {"k": 1e3, "thousand": 1e3, "grand": 1e3, "m": 1e6, "million": 1e6}
    return value * units.get(unit or "", 1.0)


def _add(filters: dict[str, list[Scalar]], column: str, value: Scalar) -> None:
    values = filters.setdefault(column, [])
    if value not in values:
        values.append(value)


# A token that may be an id, as a district writes it: letters, digits and - _ . : # inside.
ID_CHARS = r"[A-Za-z0-9](?:[A-Za-z0-9_.:#-]*[A-Za-z0-9])?"
# Where a word says an id follows: "student 48213", "id: AB-12", "#A17", "no. 42".
ID_CONTEXT = re.compile(
    rf"(?:\b(?:students?|pupils?|learners?)\s*(?:#|no\.?|number|id)?\s*:?\s*"
    rf"|\bid\s*:?\s*|(?<![\w#])#\s*|\bno\.\s*)({ID_CHARS})",
    re.I,
)
# A word that may be a misspelt "student" before an id ("stduent 4821"): checked with difflib.
NEAR_CONTEXT = re.compile(rf"\b([A-Za-z]{{4,9}})\s*(?:#|no\.?|number|id)?\s*:?\s*({ID_CHARS})")
CONTEXT_WORDS = ("student", "students", "pupil", "pupils", "learner", "learners")
NOT_CONTEXT_WORDS = ("studies",)  # near "students", but "studies 1.5 hrs" is a quantity
# A decimal number is a quantity ("attendance 0.82"), never an id.
DECIMAL = re.compile(r"\d*\.\d+")
ANY_TOKEN = re.compile(rf"(?<![\w.:#-])({ID_CHARS})(?![\w:#-])")
# A bare number is read as an id only with this many digits (else "top 10", "grade 9" or a
# capacity: "attendance outreach 300"); "student 300" is still an id.
MIN_BARE_ID_DIGITS = 4
# A bare number the words around it make a count, a rank, a level or an amount, not an id:
# "top 100", "grade 10", "over 120 days", "250 students", "1,000", "2023-24".
NOT_AN_ID_BEFORE = re.compile(
    r"(?:\b(?:top|first|last|bottom|best|worst|highest|lowest|riskiest|next|grades?|years?|"
    r"ages?|aged|over|under|above|below|than|least|most|more|fewer|about|around|limit|level|"
    r"band|quartile|class(?:es)?|period|term|since|in|take|takes|serve|serves|max|cap(?:ped)?|"
    r"at most|at least|(?:capped|cap|limited) (?:at|to))\s*|[-–/.,:])$",
    re.I,
)
NOT_AN_ID_AFTER = re.compile(
    r"^\s*(?:%|percent|points?|students?|kids|pupils|learners|enrol\w*|rows|records|people|"
    r"highest|riskiest|lowest|most|least|top|best|worst|at most|max|tops|"
    r"k\b|dollars|usd|days|hours|weeks|months|years|times|[-–/]\s*\d|,\d)",
    re.I,
)


def _bare_id(question: str, match: re.Match[str]) -> bool:
    """Whether a bare number may be an id: long enough, and no word around it makes it a
    count, rank, level or amount (the warehouse must also hold it)."""
    return (
        len(match.group(1)) >= MIN_BARE_ID_DIGITS
        and not NOT_AN_ID_BEFORE.search(question[: match.start()])
        and not NOT_AN_ID_AFTER.search(question[match.end() :])
    )


class Parser:
    def __init__(self, lexicon: Lexicon):
        self.lexicon = lexicon
        prefix = re.escape(lexicon.spec.id_prefix)
        # The ids SARA generates for students without one: prefix + digits ("A0000042", "a 42").
        # Not after an apostrophe: the "s" of "why's 48213" is no prefix.
        # A possessive without its apostrophe ("S0001234s score") still names the id.
        self._generated = re.compile(rf"(?<![\w'-]){prefix}[- ]?(\d{{1,12}})(?='?s\b|\b)", re.I)

    def padded(self, digits: str) -> str:
        """The generated id these digits stand for ("42" -> "A0000042" for prefix A)."""
        prefix = self.lexicon.spec.id_prefix
        return prefix + digits.lstrip("0").zfill(max(self.lexicon.id_width, 1))

    def _resolve(self, token: str, generated: bool) -> str:
        """The id a typed token names: itself when the warehouse has it (in any case), else the
        generated id its digits stand for when that exists (or when nothing can be checked),
        else the token as typed, so an unknown id is reported, never replaced."""
        known = self.lexicon.known_ids
        digits = token[len(self.lexicon.spec.id_prefix) :] if generated else token
        padded = self.padded(digits.strip("- ")) if digits.strip("- ").isdigit() else None
        if known is None:
            return padded or token
        candidates = list(dict.fromkeys([token, token.upper(), *([padded] if padded else [])]))
        found = known(candidates)
        return next((c for c in candidates if c in found), token)

    def _forms(self, token: str) -> list[str]:
        """The ids a loose token may stand for, most literal first."""
        forms = [token, token.upper()]
        if len(token) > 1 and token[-1] in "sS" and token[-2].isdigit():
            forms += [token[:-1], token[:-1].upper()]
        digits = forms[-1]
        year = digits.isdigit() and len(digits) == 4 and 1900 <= int(digits) <= 2099
        if digits.isdigit() and not year:  # "the class of 2028" is a year, not S0002028
            forms.append(self.padded(digits))
        return list(dict.fromkeys(forms))

    def student_ids(self, question: str) -> tuple[list[str], str]:
        """The student ids in ``question`` as the district writes them, in order, and the
        question with their spans blanked. An id is a token a word marks as one ("student
        48213", "#A-17"), a generated-style id ("A0000042"), or any token the warehouse holds
        as an id (a bare number only from MIN_BARE_ID_DIGITS digits and when the words around
        it do not make it a count, rank, level or amount)."""
        found: list[tuple[int, str]] = []
        taken = [False] * len(question)

        def take(match: re.Match[str], group: int, student: str) -> None:
            found.append((match.start(group), student))
            for i in range(match.start(), match.end()):
                taken[i] = True

        for match in self._generated.finditer(question):
            take(match, 1, self._resolve(match.group(0).replace(" ", ""), True))
        for match in ID_CONTEXT.finditer(question):
            token = match.group(1)
            if (
                not any(taken[match.start(1) : match.end(1)])
                and any(c.isdigit() for c in token)
                and not DECIMAL.fullmatch(token)
            ):
                take(match, 1, self._resolve(token, False))
        for match in NEAR_CONTEXT.finditer(question):  # the same with the word misspelt
            word, token = match.group(1).lower(), match.group(2)
            if (
                not any(taken[match.start(2) : match.end(2)])
                and any(c.isdigit() for c in token)
                and not DECIMAL.fullmatch(token)
                and word not in NOT_CONTEXT_WORDS
                and difflib.get_close_matches(word, CONTEXT_WORDS, n=1, cutoff=0.8)
            ):
                take(match, 2, self._resolve(token, False))
        known = self.lexicon.known_ids
        if known is not None:
            money = [False] * len(question)  # "$51,200", "budget of 51200": money, not an id
            for match in BUDGET.finditer(question.lower()):
                money[match.start() : match.end()] = [True] * (match.end() - match.start())
            loose = [
                m
                for m in ANY_TOKEN.finditer(question)
                if not any(taken[m.start() : m.end()])
                and not any(money[m.start() : m.end()])
                and any(c.isdigit() for c in m.group(1))
                and (not m.group(1).isdigit() or _bare_id(question, m))
            ]
            # each token as typed, in capitals, without a possessive "s" ("48213s score"),
            # and, for digits alone, the generated id they stand for ("38641" -> "S0038641")
            forms = {m.group(1): self._forms(m.group(1)) for m in loose}
            held = known(list(dict.fromkeys(f for fs in forms.values() for f in fs)))
            for m in loose:
                hit = next((f for f in forms[m.group(1)] if f in held), None)
                if hit:
                    take(m, 1, hit)
        blanked = "".join(" " if t else ch for ch, t in zip(question, taken, strict=True))
        ordered = [sid for _, sid in sorted(found)]
        return list(dict.fromkeys(ordered)), blanked

    def parse(self, question: str) -> Parse:
        ids, rest = self.student_ids(question)
        text = normalise(rest, self.lexicon)
        parsed = Parse(text=text, student_ids=ids)
        rest = self._slots(text, parsed)
        plain = rest  # and without the columns named: "parent support" is no intervention
        for term in self.lexicon.attributes:
            plain = term.pattern.sub(lambda m: " " * len(m.group(0)), plain)
        parsed.plain = plain
        parsed.intents = {intent for intent, cue in cue_patterns().items() if cue.search(rest)}
        if len(parsed.interventions) > 1 and re.search(r"\b(?:vs|versus|or|and|compar\w*)\b", text):
            parsed.intents.add("compare")
        self._composition(parsed)
        return parsed

    @staticmethod
    def _composition(parsed: Parse) -> None:
        """ "what share of the high-risk students are girls?": the make-up of a scope by the
        column whose value is said after the verb, not that value's own rate. The column becomes
        the breakdown and leaves the scope; ``composition`` keeps the values asked about."""
        match = COMPOSITION.search(parsed.text) or COMPOSITION_AFTER.search(parsed.text)
        if not match:
            return
        if re.search(r"\brisk|\bflagged\b", match.group("value")):
            return  # "what share … are at high risk in public vs private": a rate by group
        start, end = match.start("verb"), match.end("value")  # "have a part-time job" is a value
        said = [
            column
            for column, places in parsed.value_at.items()
            if column != "risk_level"
            and column in parsed.filters
            and places
            and all(start <= at < end for at in places)
        ]
        if len(said) != 1 or len(parsed.group_by) > 1:
            return
        column = said[0]
        parsed.composition = {column: parsed.filters.pop(column)}
        parsed.group_by = [column, *(c for c in parsed.group_by if c != column)]
        parsed.intents.add("equity")

    def _price_of(self, text: str, match: re.Match[str], amount: float) -> bool:
        """Whether a sum is an intervention's price said beside its name ("the $20 attendance
        mailers"): no more than the catalogue's dearest price per student, an intervention
        named right after it, and no word of a plan or budget in the question."""
        costs = self.lexicon.costs
        if not costs or amount > max(costs.values()) or PLAN_WORDS.search(text):
            return False
        after = text[match.end() : match.end() + 30]
        return any(term.pattern.search(after) for term in self.lexicon.intervention_terms)

    def _slots(self, text: str, parsed: Parse) -> str:
        """Fill the slots; returns the text with the spans used by ids, money and values blanked
        (the intent cues are matched on what is left, plus the words that carry them)."""
        parsed.student_ref = bool(STUDENT_PRONOUNS.search(text))
        parsed.cohort_ref = bool(COHORT_REFS.search(text))
        for match in BUDGET.finditer(text):
            groups = match.groups()
            amount = next(
                (_money(groups[i], groups[i + 1]) for i in range(0, len(groups), 2) if groups[i]),
                None,
            )
            after = CAP_AFTER.match(text, match.end())  # "$300 or less per student"
            head = PER_HEAD.match(text, after.end() if after else match.end())
            capped = after or CAP_BEFORE.search(text[max(0, match.start() - 30) : match.start()])
            if head and capped:
                parsed.cost_cap = amount
                text = text[: match.end()] + " " * (head.end() - match.end()) + text[head.end() :]
            elif amount is not None and self._price_of(text, match, amount):
                pass  # "the cheap $20 attendance mailers": what one costs, not a budget
            elif amount is not None:
                parsed.budget = amount
                parsed.budget_added = bool(
                    ADDED_BEFORE.search(text[max(0, match.start() - 20) : match.start()])
                    or ADDED_AFTER.match(text, match.end())
                )
            text = _blank(text, match)
        for match in BUDGET_SCALE.finditer(text):
            after, word, times = match.groups()
            word = word or after
            parsed.budget_scale = (
                float(times) if times else next(v for k, v in SCALES.items() if word.startswith(k))
            )
            text = _blank(text, match)
        match = PICK_TOP.search(text)
        if match:
            parsed.pick_top = True
            text = _blank(text, match)
        match = PICK.search(text)
        if match:
            parsed.pick = PICKS[match.group(1)]
            text = _blank(text, match)
        match = PAGE.search(text)
        if match:
            size = next((g for g in match.groups() if g), None)
            parsed.page = (int(size) if size.isdigit() else PAGE_WORDS[size]) if size else 0
            parsed.page = min(parsed.page, MAX_LIMIT)
            text = _blank(text, match)
        match = BASELINE_ASKED.search(text)
        if match and cue_patterns()["model"].search(text):
            # "is it any better than just looking at attendance?": the model card's naive
            # baseline beside the model, not a comparison of groups by that column
            text = _blank(text, match)
        elif match and RULE_OF_THUMB.search(match.group(0)):
            # "does SARA beat a dumb rule like …?" asks about the model in other words
            text = text[: match.start()] + "model".ljust(len(match.group(0))) + text[match.end() :]
        for ranks in MODEL_RANKS.finditer(text):  # "how well does the model rank students"
            text = text[: ranks.start(1)] + " " * (ranks.end(1) - ranks.start(1)) + text[ranks.end(1) :]
        inputs = INPUTS_ASKED.search(text)
        if inputs and cue_patterns()["model"].search(text):
            # "does the model use race or gender as inputs?": the model card's inputs, not a
            # comparison of groups
            text = _blank(text, inputs)
        if parsed.budget is None and cue_patterns()["plan"].search(text):
            match = PLAN_SUM.search(text)
            if match:
                parsed.budget = _money(match.group(1), None)
                text = _blank(text, match)
        for match in AVERAGE_COUNT.finditer(text):
            text = text[: match.start(1)] + " " * len(match.group(1)) + text[match.end(1) :]
        parsed.absent = self.lexicon.absent_words(text)
        capped = [(m, 1, 2) for m in CAPACITY.finditer(text)] + [
            (m, 2, 1) for pattern in (CAPACITY_AFTER, CAPACITY_CAP) for m in pattern.finditer(text)
        ]
        more = []
        for match, number, phrase in capped:  # each said the same way as the cap it follows
            following, end = CAPACITY_MORE, match.end()
            if number == 1:  # "… in tutoring and 80 in mentoring": the phrase ends at "and"
                following = CAPACITY_MORE_FIRST
                cut = re.search(r",? and \d|, \d", match.group(2))
                end = match.start(2) + cut.start() if cut else end
            follow = following.match(text, end)
            while follow:
                more.append((follow, number, phrase))
                follow = following.match(text, follow.end())
        spans = []
        for match, number, phrase in capped + more:
            for term in self.lexicon.intervention_terms:
                named = term.pattern.search(match.group(phrase))
                if named:
                    parsed.capacity[term.column] = int(match.group(number))
                    at = match.start(phrase)
                    spans.append((at + named.start(), at + named.end()))
                    spans.append((match.start(number), match.end(number)))
        for start, end in spans:  # a cap on tutoring does not make the plan tutoring only
            text = text[:start] + " " * (end - start) + text[end:]
        parsed.counts = bool(COUNTS.search(text))
        for match in OUT_OF_HIGH.finditer(text):
            parsed.objective = "students_out_of_high"
            text = _blank(text, match)
        outcome = self.lexicon.outcome
        for metric, pattern in METRICS:
            said = pattern.search(text) or (
                metric == "outcome_rate" and outcome is not None and outcome.search(text)
            )
            if said and metric not in parsed.metrics:
                parsed.metrics.append(metric)
        shares = []  # "at least 40 % of the students we treat from SES quartile 1"
        for match in EQUITY_SHARE.finditer(text):
            shares.append((match.end(), float(match.group(1)) / 100, bool(match.group(2))))
            text = _blank(text, match)
        text = self._thresholds(text, parsed)
        text = self._number_lists(text, parsed)
        text = self._level_ranges(text, parsed)
        text = self._filters(text, parsed)
        for end, share, of_money in shares[:1]:
            self._equity_rule(parsed, end, share, of_money)
        if WITH_AND_WITHOUT_IT.search(text):  # "parent support at home: with vs without it"
            said = [c for c in parsed.mentioned_columns if self._yes_no(c)]
            if len(said) == 1 and said[0] not in parsed.group_by and len(parsed.group_by) < 2:
                parsed.group_by.append(said[0])
        match = LIMIT.search(text)
        if match:
            word = next(g for g in match.groups() if g)
            parsed.limit = min(_number(word), MAX_LIMIT)
        parsed.all_students = bool(ALL_STUDENTS.search(text)) and not parsed.filters
        if NOT_JUST_LEVEL.search(parsed.text) and ALL_STUDENTS.search(text):
            # "every student, not just the at-risk ones": the level named is not the scope
            parsed.filters.pop("risk_level", None)
            parsed.all_students = not parsed.filters
        # "split by whether the student has a job" names no student once its span is read
        parsed.student_ref = parsed.student_ref and bool(
            STUDENT_PRONOUNS.search(GENERIC_STUDENT.sub(" ", text))  # "whether the student works"
        )
        return text

    @staticmethod
    def _equity_rule(parsed: Parse, end: int, share: float, of_money: bool) -> None:
        """The group named just after "at least 40 % …" is the plan's equity rule, not its
        scope: the value leaves the filters (unless it is named as the scope too)."""
        near = [
            column
            for column, places in parsed.value_at.items()
            if column != "risk_level"
            and any(end <= at <= end + EQUITY_REACH for at in places)
            and len(parsed.filters.get(column, [])) == 1
            and not isinstance(parsed.filters[column][0], dict)
        ]
        if not near:
            return
        column = min(near, key=lambda c: min(at for at in parsed.value_at[c] if at >= end))
        if any(at < end for at in parsed.value_at[column]):
            return  # the same column names the scope too: which value is which is unclear
        (value,) = parsed.filters.pop(column)
        parsed.equity = {"attribute": column, "min_share": {str(value): share}}
        parsed.equity_of_money = of_money

    def _thresholds(self, text: str, parsed: Parse) -> str:
        """ "<column> below 85 %" -> {"<column>": [{"lt": 0.85}]} (a percent read as
        the share the column stores)."""
        for term in self.lexicon.thresholds:
            for match in term.pattern.finditer(text):
                groups = match.groups()
                word, number, unit = groups[:3] if groups[0] else groups[3:]
                bound = float(number)
                if term.value == "percent" and (unit or bound > 1):
                    bound /= 100
                op = COMPARISONS[word]
                ranges = parsed.filters.setdefault(term.column, [Bounds()])
                if not isinstance(ranges[0], dict):
                    continue  # a value named too: the question is asked back below
                ranges[0][op] = bound
                parsed.value_at.setdefault(term.column, []).append(match.start())
                text = _blank(text, match)
                more = BOUND_MORE.match(text, match.end())  # "… at least 70% but under 85%"
                if more and COMPARISONS[more.group(1)] not in ranges[0]:
                    bound = float(more.group(2))
                    if term.value == "percent" and (more.group(3) or bound > 1):
                        bound /= 100
                    ranges[0][COMPARISONS[more.group(1)]] = bound
                    text = _blank(text, more)
        return text

    def _level_ranges(self, text: str, parsed: Parse) -> str:
        """ "the bottom two SES quartiles" -> the two lowest levels; "top half" -> the upper
        half of the levels."""
        for term in self.lexicon.ranges:
            levels = list(term.value)
            for match in term.pattern.finditer(text):
                size = 2 if match.group(2) in ("two", "2") else (len(levels) + 1) // 2
                low = match.group(1) in ("bottom", "lowest", "lower")
                for value in levels[:size] if low else levels[-size:]:
                    _add(parsed.filters, term.column, value)
                parsed.value_at.setdefault(term.column, []).append(match.start())
                text = _blank(text, match)
        return text

    def _number_lists(self, text: str, parsed: Parse) -> str:
        """ "grades 9 and 10", "grades 9-12", "9th and 10th graders"."""
        for term in self.lexicon.number_lists:
            low, high = term.value
            for match in term.pattern.finditer(text):
                numbers = [int(n) for n in re.findall(r"\d{1,2}", match.group(0))]
                if re.search(r"\d\s*(?:-|to)\s*\d", match.group(0)) and len(numbers) == 2:
                    numbers = list(range(numbers[0], numbers[1] + 1))
                numbers = [n for n in numbers if low <= n <= high]
                column = self.lexicon.spec.column(term.column)
                outside = [n for n in numbers if not (column.min <= n <= column.max)]
                if outside:  # "7th graders" where the data holds grades 9 to 12
                    parsed.problems.append(
                        f"{self.lexicon.label(term.column)} {outside[0]} is outside the range in "
                        f"the data ({column.min:g} to {column.max:g})"
                    )
                    text = _blank(text, match)
                    continue
                if numbers:
                    for n in numbers:
                        _add(parsed.filters, term.column, n)
                    parsed.value_at.setdefault(term.column, []).append(match.start())
                    text = _blank(text, match)
        return text

    def _filters(self, text: str, parsed: Parse) -> str:
        lex = self.lexicon
        # "getting internet at home … for the kids who don't have it": the intervention, not a
        # group of students who have internet
        lacking = bool(LACKS_IT.search(text))
        given = {
            lex.switches[t.column]: t.pattern
            for t in lex.intervention_terms
            if lacking and t.column in lex.switches
        }
        for term in lex.negations:
            for match in term.pattern.finditer(text):
                giving = given.get((term.column, term.value))
                if giving and any(
                    g.start() < match.end() and match.start() < g.end()
                    for g in giving.finditer(text)
                ):
                    continue
                for value in (0, 1) if term.value == "both" else (term.value,):
                    _add(parsed.filters, term.column, value)
                parsed.value_at.setdefault(term.column, []).append(match.start())
                text = _blank(text, match)
        for term in lex.intervention_terms:
            for match in term.pattern.finditer(text):
                if term.column not in parsed.interventions:
                    parsed.interventions.append(term.column)
                text = _blank(text, match)
        switched = [lex.switches[n] for n in parsed.interventions if n in lex.switches]
        if len(parsed.interventions) == 1 and switched and LACKS_IT.search(text):
            column, value = switched[0]  # "home internet for the ones without it"
            if column not in parsed.filters:
                _add(parsed.filters, column, 1 - value)
        for level, pattern in RISK_LEVELS:
            if pattern.search(text):
                _add(parsed.filters, "risk_level", level)
        for term in lex.attributes:
            if term.pattern.search(text) and term.column not in parsed.mentioned_columns:
                parsed.mentioned_columns.append(term.column)
        for term in lex.values:
            for match in term.pattern.finditer(text):
                value = term.value
                if value == "number":
                    column = lex.spec.column(term.column)
                    value = int(match.group(1))
                    if not (column.min <= value <= column.max):
                        parsed.problems.append(
                            f"{lex.label(term.column)} {value} is outside the range in the data "
                            f"({column.min:g} to {column.max:g})"
                        )
                        text = _blank(text, match)
                        continue
                for one in value if isinstance(value, tuple) else (value,):
                    _add(parsed.filters, term.column, one)
                parsed.value_at.setdefault(term.column, []).append(match.start())
                text = _blank(text, match)
        self._affordable(parsed)
        parsed.numeric_columns = [
            c for c in parsed.mentioned_columns if self._averaged(c, text, parsed)
        ]
        parsed.group_by = self._group_by(text, parsed)
        return text

    def _yes_no(self, column: str) -> bool:
        spec = self.lexicon.spec
        return column in spec.column_names and spec.column(column).dtype == "bool"

    def _yes_and_no(self, column: str, values: list[Scalar]) -> bool:
        return self._yes_no(column) and {bool(v) for v in values} == {False, True}

    def _affordable(self, parsed: Parse) -> None:
        """A cost cap keeps the interventions (asked for, else all) that cost no more per
        student; none left is a problem said back, never a silently dropped condition."""
        costs, cap = self.lexicon.costs, parsed.cost_cap
        if cap is None or not costs:
            return
        asked = parsed.interventions or list(costs)
        within = [name for name in asked if costs.get(name, float("inf")) <= cap]
        if not within:
            cheapest = min(asked, key=lambda name: costs.get(name, float("inf")))
            parsed.problems.append(
                f"no intervention {'asked for ' if parsed.interventions else ''}costs "
                f"${cap:,.0f} or less per student (the cheapest, "
                f"{self.lexicon.interventions.get(cheapest, cheapest)}, costs "
                f"${costs[cheapest]:,.0f})"
            )
        elif parsed.interventions or len(within) < len(asked):
            parsed.interventions = within

    def _averaged(self, column: str, text: str, parsed: Parse) -> bool:
        """Whether a mentioned column is a quantity to average: a decimal column always; a
        whole-number one when "average" (or "mean", "typical") comes just before it or "on
        average" just after ("average forum posts by region", "previous attempts on average"),
        and it is not a filter or the breakdown ("average risk by grade")."""
        spec_column = self.lexicon.spec.column(column)
        if spec_column.dtype == "float":
            return True
        if spec_column.dtype != "int" or column in parsed.filters:
            return False
        term = next(t for t in self.lexicon.attributes if t.column == column)
        for match in term.pattern.finditer(text):
            before = text[max(0, match.start() - 40) : match.start()]
            if BREAKDOWN_BEFORE.search(before):
                continue
            if re.search(r"\b(?:average|avg|mean|typical)\s+(?:\S+\s+){0,3}$", before) and not (
                re.search(r"\b(?:risk|rate|share|outcome|score)s?\b[^.?!]*$", before)
            ):
                return True
            if re.match(r"\s*(?:\w+\s+)?on average\b", text[match.end() :]):
                return True
        return False

    def _group_by(self, text: str, parsed: Parse) -> list[str]:
        """Columns named as a comparison ("by race", "across locales", "boys vs girls")."""
        found: list[str] = []
        for term in self.lexicon.attributes:
            if term.column in parsed.numeric_columns:
                continue
            if term.column in parsed.filters:
                # "the kids who do clubs … by extracurriculars": the breakdown said last wins
                values = parsed.filters[term.column]
                said = any(
                    BREAKDOWN_BEFORE.search(text[max(0, m.start() - 20) : m.start()])
                    for m in term.pattern.finditer(text)
                )
                if (
                    said
                    and len(values) == 1
                    and self.lexicon.spec.column(term.column).dtype == "bool"
                ):
                    del parsed.filters[term.column]
                    found.append(term.column)
                continue
            if term.pattern.search(text):
                found.append(term.column)
        contrast = CONTRAST.search(parsed.text)  # "boys vs girls", not "grades 9 and 10"
        for column, values in parsed.filters.items():
            both = self._yes_and_no(column, values)  # "with or without", "whether they have"
            if (
                (contrast or both)
                and column != "risk_level"
                and len(values) > 1
                and column not in found
                and not (parsed.interventions and not both)  # interventions are compared
                and not INTERVENTIONS_COMPARED.search(parsed.text)  # "compare every intervention"
            ):
                # "only for students in London or the South East" keeps both as the scope
                # and "find the students in town or rural schools" lists them, compares nothing
                only_or = {m.group(0) for m in CONTRAST.finditer(parsed.text)} == {"or"}
                scoped = any(
                    ONLY_BEFORE.search(parsed.text[max(0, at - 40) : at])
                    or (
                        only_or and (LIST_BEFORE.search(parsed.text[:at]) or LIST_SIZE.search(text))
                    )
                    for at in parsed.value_at.get(column, [])
                )
                if not scoped:
                    found.append(column)
        return found[:2]
