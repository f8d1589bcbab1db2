"""Scope and harm: what SARA will not do, decided before any tool runs (for both backends).

- Instructions embedded in a question ("ignore previous instructions…") are cut out and change
  nothing; what is left is answered only if it is a question SARA answers anyway.
- Personal contact data (addresses, phone numbers…) is not held and never listed.
- The chat cannot change settings, data, keys or roles.
- Students are never ranked, listed or targeted by race/ethnicity or another protected
  attribute; groups can be compared (that is what an equity analysis is).
- No prediction is a certainty: "will she fail for sure?" gets the probability and why it is
  not a verdict.
- Anything outside student risk analytics is declined, with what SARA can do instead."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from tools.policy import selection_refusal

Kind = Literal[
    "injection", "personal_data", "settings", "protected", "certainty", "out_of_scope", "what_if",
    "forecast",
]

INJECTION = re.compile(
    r"(?:ignore|disregard|forget|override|bypass)\b[^.?!]{0,40}\b(?:instructions?|prompts?|rules?|"
    r"guidelines?|guardrails?|restrictions?|polic(?:y|ies)|everything)|"
    r"\bsystem prompt\b|\byou are now\b|\bact as\b|\bpretend (?:to be|you)\b|\bjailbreak|"
    r"\bdeveloper mode\b|\bnew instructions?\b|\bdo anything now\b|\bno restrictions\b|"
    r"\bfrom now on\b|\broleplay\b|</?(?:system|instructions?)>|"
    r"\b(?:admin|god|debug|maintenance|unrestricted) mode\b"
)
PERSONAL_DATA = re.compile(
    r"\b(?:home )?address(?:es)?\b|\bphone(?: numbers?)?\b|\bemails?(?: address(?:es)?)?\b|"
    r"\bssns?\b|\bsocial security\b|\bpasswords?\b|\bapi keys?\b|\bcontact (?:details|info\w*)\b|"
    r"\bmedical (?:records?|history)\b|\bdiagnos[ie]s\b|\bdate of birth\b|\bbirthdays?\b|"
    r"\bparents'? names?\b|\bfull names?\b|\bwhere (?:does|do) (?:she|he|they|\w+) live\b"
)
SETTINGS = re.compile(
    r"\b(?:change|set|lower|raise|increase|decrease|update|switch|turn off|disable|enable|modify|"
    r"edit|delete|drop|remove|reset|overwrite|insert|alter|make me|revoke|upgrade|promote|"
    r"bump|tweak|loosen|tighten|"
    # "grant" the verb, not the funding ("for our grant narrative i need the … gpa")
    r"grant(?! (?:narrative|reports?|proposals?|applications?|writ\w*|funding|funded|money|"
    r"deadlines?|renewals?|budgets?|submissions?|officers?|cycle|period|year)\b)|"
    r"elevate|bypass|skip)\b"
    r"[^.?!]{0,40}\b(?:thresholds?|cut-?offs?|settings?|config\w*|backend|roles?|permissions?|"
    r"keys?|admin|"
    r"database|tables?|records?|data|warehouse|model|scores?|grades?|gpa|audit|logs?|access|"
    r"guard(?:rails?)?|grounding|safety|refusals?|checks?|llm|gpt\w*|suppress\w*|"
    r"minimum (?:group|cell) sizes?|small[- ]group \w+|privacy \w+|masking|redaction)\b|"
    r"\bgive me (?:admin|access|permissions?|an? (?:api )?key|the keys?|root)\b|"
    r"\b(?:re-?train|re-?fit|rebuild)\w*\b[^.?!]{0,30}\bmodels?\b|"
    # asked for, not asked about ("does the model use race as an input?" is a question)
    r"(?:^|[.!?;]\s*|\b(?:please|pls|can you|could you|go ahead and|i want you to|want (?:the "
    r"model|it|you) to|make (?:the (?:risk )?model|it|sara)) )(?:use|add|include|put|turn on|"
    r"switch on|enable)\b[^.?!]{0,30}\bas (?:a |an )?(?:model )?(?:features?|inputs?|"
    r"predictors?)\b|"
    r"\buse (?:the )?(?:\w+ )?backend\b|\buse backend\b|"
    r"\b(?:switch|change|go) (?:over )?to (?:the )?"
    r"(?:offline|llm|gpt\w*|openai|another|a different)\b"
    # an edit of a student's record: "change her attendance to 95% in the system"
    # (verbs only: "a record in the system" is a noun, asked about, not an edit)
    + r"|\b(?:change|update|correct|fix|edit|overwrite|set|mark|reset|delete|remove)\b[^.?!]{0,60}"
    r"\b(?:in|on|into|from) (?:the |our |his |her |their |your )?(?:system|sis|database|dataset|"
    r"data|db|file|records?|roster|gradebook|warehouse)\b|"
    r"\b(?:entered|recorded|keyed in|typed in) (?:wrong(?:ly)?|incorrectly|by mistake)\b|"
    r"\b(?:keyed|entered|typed|put) (?:it |that |this )?in (?:wrong(?:ly)?|incorrectly)\b|"
    # "change S…'s attendance to 92%": a record's value set
    r"\b(?:change|set|update|correct|fix)\b(?![^.?!]{0,40}\b(?:budget|money|funds?|spend\w*|"
    r"caps?|capacity|limit|plan)\b)[^.?!]{0,40}\bto \d[\d.]*\s?(?:%|percent)?(?=[\s,.;!?]|$)|"
    # "take attendance out of the model's inputs"
    r"\b(?:take|remove|drop|leave|pull)\b[^.?!]{0,30}\b(?:out of|from|off) (?:the )?(?:model'?s? |"
    r"risk model'?s? )?(?:inputs?|features?|predictors?|model)\b|"
    # "her attendance is wrong in your data, it should be 98 %"
    r"\b(?:wrong|incorrect|out of date|outdated) in (?:your|the|our) (?:data|system|records?|"
    r"database|file)\b|"
    # "her record is wrong, her parent support should say yes - fix it"
    r"\b(?:record|data|entry|value|number|score|attendance)s? (?:is|are|was|were|looks?) "
    r"(?:wrong|incorrect|off|out of date|outdated)\b[^?]{0,80}\b(?:fix|correct|change|update|"
    r"edit|set)\b|"
    r"\bshould (?:say|read|show|be)\b[^.?!]{0,30}[-–,;:.]\s*(?:please )?(?:fix|correct|change|"
    r"update) (?:it|that|this)\b"
)
TARGETING_VERBS = re.compile(
    r"\b(?:rank|list|sort|order|show|name|who|which students|target|prioriti[sz]e|focus on|"
    r"single out|exclude|screen|watch|monitor|pick|select|flag|identify|find)\b"
)
BULK = re.compile(
    r"\b(?:dump|export|download|output|print|give me|send me)\b[^.?!]{0,40}\b(?:every|all|whole|"
    r"entire|full)\b[^.?!]{0,30}\b(?:students?'?s?|records?|rows|tables?|database|data)\b|"
    r"\b(?:every|all) students?'s? (?:race|gpa|grades|records?|data|details)\b"
)
# What a bulk request asks SARA to work out, not to hand over ("give me an equity summary for
# all students" is a summary).
ANALYSIS = re.compile(
    r"\b(?:summar\w*|reports?|overview|breakdown|analysis|equity|averages?|mean|share|rates?|"
    r"counts?|plans?|comparison|gaps?)\b"
)
CERTAINTY = re.compile(
    r"\bfor (?:sure|certain)\b|\bdefinitely\b|\bcertain(?:ly)?\b|\bguarantee\w*|\b100 ?%|"
    r"\bpromise\w*|\bassure me\b|"
    r"\bdestined\b|\bdoomed\b|\bbound to fail\b|\binevitabl\w*|\bno chance\b|"
    r"\bwithout (?:a )?doubt\b|\bnever (?:graduate|pass|succeed)\b|\bgoing to (?:fail|drop out)\b|"
    r"\bwill (?:\w+ )?(?:fail|drop out)\b|\b(?:gonna|going to) (?:fail|pass|drop out)\b|"
    r"\bfail or not\b"
)
OUT_OF_SCOPE = re.compile(
    r"\b(?:poem|joke|weather|recipe|song|lyrics|story|stock|bitcoin|crypto|football|soccer|movie|"
    r"translate|capital of|who won|essay|write (?:me )?(?:a|an|some|my)\b[^.?!]{0,25}\b(?:letter|"
    r"code|script|program|speech|email|cover letter)|"
    r"python code|solve (?:this|the) (?:equation|problem)|horoscope|dating|vacation|restaurant|"
    r"lesson plans?|worksheets?|photosynthesis|quiz(?:zes)?|"
    # "the smartest kid", not "the smartest way to spend it"
    r"(?:smartest|dumbest)(?! (?:way|thing|move|use|option|plan|choice|approach|spend))|"
    # acting outside the chat: messaging families, booking, emailing
    r"(?:text|sms|email|e-mail|call|message|phone|notify|contact) (?:the |their |all |every )?"
    r"(?:parents|families|guardians|students|kids)\b|"
    r"(?:recommend|suggest|buy|purchase)\b[^.?!]{0,25}\b(?:laptops?|computers?|phones?|tablets?|"
    r"cars?|books? for my|shoes)|"
    # picking a product: "what's a decent laptop under $400"
    r"(?:decent|good|best|cheap|cheapest|affordable|reliable|which) (?:laptops?|computers?|"
    r"chromebooks?|tablets?|phones?|calculators?|backpacks?)|"
    r"(?:most|least) intelligent|iq)\b"
)
DOMAIN = re.compile(
    r"\b(?:students?|pupils?|learners?|kids?|risk\w*|schools?|grades?|graders?|attendance|"
    r"interventions?|tutor\w*|mentor\w*|outreach|model|equity|fair\w*|bias\w*|cohort|budget|"
    r"gpa|outcome\w*|sara|ses|quartile|locale|intervention|plan|support|help|explain\w*|"
    r"rates?|numbers?|stats?|statistics|groups?|percent(?:age)?s?|proportions?|fractions?)\b"
)


# Letters from other scripts that look like Latin ones ("іgnore" with a Cyrillic і): a question
# is read as it looks, so a lookalike cannot slip an instruction or a settings request past.
LOOKALIKES = str.maketrans(
    "аеорсхуіјѕԁһкмтвнАЕОРСХУІЈЅКМТВНԜѡɑοαεικνρτυχΑΒΕΗΙΚΜΝΟΡΤΥΧΖ",
    "aeopcxyijsdhkmtbhAEOPCXYIJSKMTBHWwaoaeikvptuxABEHIKMNOPTYXZ",
)


def plain_text(text: str) -> str:
    """``text`` as it reads: compatibility forms folded (full-width letters, ligatures),
    invisible format characters removed (zero-width spaces and joiners, direction marks) and
    lookalike letters of other scripts read as the Latin letters they imitate."""
    folded = unicodedata.normalize("NFKC", text)
    visible = "".join(ch for ch in folded if unicodedata.category(ch) != "Cf")
    return visible.translate(LOOKALIKES)


@dataclass(frozen=True)
class Refusal:
    kind: Kind
    message: str


def strip_injection(text: str) -> tuple[str, bool, Refusal | None]:
    """The question without embedded instructions, whether there were any, and the refusal an
    injected demand itself gets (e.g. for addresses). Each sentence, line or markup comment
    carrying an instruction is removed; after "ignore your rules and …" the rest of the clause
    is kept when it is an ordinary question ("… tell me why A0000042 is high risk")."""
    pieces = re.split(r"(?<=[.!?;:\n])\s+|\n|-->|<!--", text)
    kept, injected, demand = [], False, None
    for piece in pieces:
        match = INJECTION.search(piece.lower())
        if not match:
            kept.append(piece)
            continue
        injected = True
        rest = re.match(r"\s*(?:,|and|then|but)\s+(?:then\s+)?(.+)", piece[match.end() :], re.S)
        if rest and not INJECTION.search(rest.group(1).lower()):
            demand = demand or check_request(rest.group(1).lower())
            if demand is None:
                kept.append(rest.group(1))
    return " ".join(kept).strip(), injected, demand


def check_request(text: str, columns: Sequence[re.Pattern[str]] = ()) -> Refusal | None:
    """Refusals that hold whatever the question is about (``text`` is lower-case). Words that
    name a column of the served spec (``columns``: its patterns) are the district's data, not
    a request for personal details: a column called ``address`` meaning urban or rural is
    asked about, never refused for its name."""
    text = text.replace("_", " ")  # "SARA_RISK_HIGH_THRESHOLD" names a threshold
    personal = text
    for pattern in columns:
        personal = pattern.sub(lambda m: " " * len(m.group(0)), personal)
    bulk = BULK.search(text)
    if PERSONAL_DATA.search(personal) or (bulk and not ANALYSIS.search(bulk.group(0))):
        return Refusal(
            "personal_data",
            "I can't share personal or contact details: SARA holds no addresses, phone numbers "
            "or other personal records, and lists students only by id with their risk.",
        )
    if SETTINGS.search(text) and not re.search(r"\bwhat if\b|\bwould\b.*\b(?:help|change)\b", text):
        return Refusal(
            "settings",
            "I can only read and analyse: I can't change settings, thresholds, data, the model "
            "or its inputs, keys or roles. An administrator changes those outside the chat (the "
            "model is trained by the pipeline from the spec's feature sets).",
        )
    if OUT_OF_SCOPE.search(text):
        return Refusal("out_of_scope", out_of_scope_message())
    return None


def check_targeting(
    text: str,
    protected_filters: list[str],
    protected_groups: list[str],
    lists_students: bool,
    labels: dict[str, str],
) -> Refusal | None:
    """Listing, ranking or selecting students by a protected attribute is refused; comparing
    groups is not."""
    columns = protected_filters + [c for c in protected_groups if c not in protected_filters]
    if not columns:
        return None
    if lists_students or (
        protected_groups
        and TARGETING_VERBS.search(text)
        and re.search(
            r"\b(?:rank|sort|order|target|prioriti[sz]e|single out|"
            r"exclude|screen|pick|select)\b",
            text,
        )
    ):
        return Refusal("protected", selection_refusal([labels[c] for c in columns]))
    return None


# A what-if on a change SARA cannot compute: a change of a column by the asker's own amount, or
# a policy it cannot model. What it can compute are the catalogue's interventions, named in the
# question.
WHAT_IF = re.compile(
    r"\bif (?:\w+ ){0,5}(?:quit|quits|stopped|stops|started|starts|doubled|doubles|halved|"
    r"tripled|increased|decreased|went (?:up|down)|dropped|drops|moved|changed|switched|"
    r"transferred|left|lost|gained|shut|shuts|closed|closes|merged|merges|sent|bused|"
    r"consolidated|consolidates|combined|redistricted|rezoned|gave up|gives up|joined|joins|"
    r"took up|takes up|picked up|dropped out)\b|"
    # a policy SARA cannot model: "what would happen to risk if we bused the rural kids to …"
    r"\b(?:what (?:would|will|could|might) happen|what happens|how would)\b[^.?!]{0,60}"
    r"\bif (?:we|they|the (?:district|schools?|state|board))\b|"
    # a policy's effect to come: "will the new math curriculum bring down the number …?"
    r"\bwill (?:the|a|an|our|this|that) (?:new |proposed |planned )?[^.?!]{0,40}\b(?:bring down|"
    r"reduce|lower|raise|increase|improve|cut|change)\b|"
    # a closure or merger asked as a decision: "should we just shut them down?"
    r"\b(?:should|could|can|do) (?:we|they|i) (?:just |simply )?(?:shut|close|merge|consolidate)"
    r"\b[^.?!]{0,30}(?:\bdown\b|\bschools?\b|\bthem\b|\bit\b)"
)
# A forecast of something other than the risk: "what will her SAT score be next spring",
# "predict what score she will get on the state math test".
FORECAST = re.compile(
    r"\bwill\b[^.?!]{0,40}\bbe\b[^.?!]{0,25}\b(?:(?:next|by) (?:spring|fall|autumn|winter|"
    r"summer|year|term|semester|month|week)|(?:in|by|for) (?:the class of )?20\d\d)\b|"
    r"\b(?:predict|forecast|project)\w*\b[^.?!]{0,40}\b(?:next|the coming|coming) (?:spring|fall|"
    r"autumn|winter|summer|year|term|semester|month|week)\b|"
    # a test score or grade to come: "predict what score she will get on the state math test"
    r"\b(?:predict|forecast|project|guess|estimate)\w*\b[^.?!]{0,30}\b(?:score|grade|mark|result|"
    r"gpa)s?\b[^.?!]{0,25}\b(?:will|(?:s?he|they)'ll|is going to|are going to|gonna) (?:get|make|"
    r"earn|receive|achieve|have|be)\b|"
    r"\b(?:predict|forecast)\w*\b[^.?!]{0,40}\b(?:on|in|for) (?:the |her |his |their |next )?"
    r"(?:[\w-]+ ){0,3}(?:tests?|exams?|assessments?|finals?|sat|act|eoc|regents|quiz\w*)\b|"
    r"\b(?:predict|forecast)\w*\b[^.?!]{0,40}\b(?:tests?|exams?|assessments?) (?:scores?|results?)\b|"
    r"\b(?:predict|forecast|project)\w*\b[^.?!]{0,40}\b(?:scores?|grades?|marks?|results?|gpa)\b"
    r"[^.?!]{0,20}\b(?:this|next|the coming|coming) (?:spring|fall|autumn|winter|summer|year|term|"
    r"semester|quarter|month)\b|"
    # "what SAT score should she expect this March?"
    r"\b(?:sat|act|psat|test|exam|state test)\b[^.?!]{0,12}\bscores?\b[^.?!]{0,30}\b(?:expect|get|"
    r"make|earn|achieve)\b|"
    # "what will she score on the ACT next month?", "what grade will he get in chemistry?"
    r"\bwhat (?:\w+ )?(?:will|would|is going to)\b(?![^.?!]{0,30}\bhelp)[^.?!]{0,30}\b(?:score|get|"
    r"make|earn|receive) (?:on|in) \b|"
    r"\b(?:forecast|predict|project)\w*\b[^.?!]{0,40}\bnext (?:year|term|semester|quarter|month)\b|"
    # an outcome the data does not hold, at a date to come: "how many will graduate in 2028?"
    r"\bwill\b[^.?!]{0,50}\b(?:in|by) (?:the class of |the end of )?20\d\d\b"
)
NOT_A_WHAT_IF = re.compile(r"\b(?:budget|money|funding|spend\w*|dollars?|\d[\d,.]*\s?k)\b|\$")


def what_if_refusal(
    text: str, interventions: Sequence[str], names: Sequence[str]
) -> Refusal | None:
    """A what-if SARA cannot compute is said to be one, never answered as another question."""
    if interventions or NOT_A_WHAT_IF.search(text):
        return None
    if FORECAST.search(text):
        return Refusal(
            "forecast",
            "I can't forecast that. SARA's model predicts one thing: each student's risk of the "
            "outcome the dataset defines, from the data it holds today. It does not forecast test "
            "scores, grades or other results; you can ask for a student's risk and why.",
        )
    if not WHAT_IF.search(text):
        return None
    offered = ", ".join(names) if names else "none are defined for this dataset"
    return Refusal(
        "what_if",
        "I can't compute that what-if. The what-ifs SARA computes are its interventions, "
        f"applied to the student's data and scored by the model ({offered}); a student's "
        "explanation also gives the smallest change that lowers their level. It does not "
        "predict other outcomes (such as a future GPA).",
    )


def certainty_refusal(text: str) -> Refusal | None:
    if CERTAINTY.search(text):
        return Refusal(
            "certainty",
            "No one can say for sure how a student will do: SARA's score is a probability from "
            "past data, a reason to look closer and help, never a verdict.",
        )
    return None


def out_of_scope_message() -> str:
    return (
        "That is outside what I do. I answer questions about student academic risk: why a "
        "student is at risk, who is most at risk in a group, how risk and outcomes differ "
        "between groups, how fair the model is, which interventions would help, planning them "
        "under a budget, and what the model is."
    )


def in_domain(text: str) -> bool:
    return bool(DOMAIN.search(text))
