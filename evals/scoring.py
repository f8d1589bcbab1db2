"""Scoring one answer against its gold item, and the metrics over many.

- tool selection: the set of tools called equals the gold set;
- argument exact match: the calls, normalised (filter values as sorted lists, group-by and
  intervention lists sorted), equal the gold calls as a multiset — TalkToModel's exact-match
  parse accuracy;
- answer correctness: the outcome is the expected one (answered / clarified / refused), every
  fact is in the text within one unit of its last decimal, and — for an item without facts —
  the right tools were called;
- faithfulness: numbers in answers that no tool output of the turn supports (must be 0);
- silent drops: answers that answered part of the question, left out a tool the gold calls
  make, and named nothing as unanswered (must be 0)."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from pydantic import BaseModel, Field

from assistant.grounding import ABOVE, BELOW, numbers_in_text, ungrounded_numbers, written_value
from assistant.render import risk_pct
from assistant.types import Answer
from evals.gold import Fact, GoldCall, GoldItem, Resolver

OUTCOME_OF = {"answer": "answered", "clarify": "clarified", "refuse": "refused"}
SORTED_LISTS = ("group_by", "interventions", "student_ids", "attributes")


class ItemResult(BaseModel):
    id: str
    set: str
    source: str
    expect: str
    outcome: str
    tools_ok: bool
    args_ok: bool
    facts_ok: bool
    correct: bool
    numbers: int
    ungrounded: list[str] = Field(default_factory=list)
    silent_drop: bool = False
    latency_ms: float = 0.0
    tool_ms: float = 0.0
    problems: list[str] = Field(default_factory=list)


def _scalar(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def normalise(name: str, arguments: dict[str, Any]) -> str:
    """A canonical text of one call, for exact-match comparison. An empty filter is no filter:
    ``{"filters": {}}`` and no ``filters`` are the same call."""
    args: dict[str, Any] = {}
    for key, value in arguments.items():
        if key == "filters" and not value:
            continue
        if key == "filters":
            value = {
                column: sorted(
                    (_scalar(v) for v in (vs if isinstance(vs, list) else [vs])), key=str
                )
                for column, vs in sorted((value or {}).items())
            }
        elif key in SORTED_LISTS and isinstance(value, list):
            value = sorted(value, key=str)
        else:
            value = _scalar(value)
        args[key] = value
    return f"{name}{sorted(args.items(), key=str)}"


def calls_match(made: list[tuple[str, dict]], gold: list[GoldCall]) -> tuple[bool, bool]:
    tools_ok = {n for n, _ in made} == {c.name for c in gold}
    args_ok = Counter(normalise(n, a) for n, a in made) == Counter(
        normalise(c.name, c.arguments) for c in gold
    )
    return tools_ok, args_ok


def silent_drop(made: list[tuple[str, dict]], gold: list[GoldCall], answer: Answer) -> bool:
    """An answer to part of a question with another part neither answered nor named: its
    calls are some of the gold calls, by tool (a call for each), but not all, and it declined
    nothing. Calls of other tools make it a wrong answer instead."""
    asked, ran = Counter(c.name for c in gold), Counter(n for n, _ in made)
    part = bool(ran) and not ran - asked and bool(asked - ran)
    return answer.outcome == "answered" and part and not answer.declined


def _numbers(text: str) -> list[float]:
    return [written_value(w)[0] for w in numbers_in_text(text)]


def _bounded(fact: Fact, value: float, text: str) -> bool:
    """Whether a student's risk score beyond 1 % or 99 % is stated as SARA writes it ("below
    1 %", "above 99 %"; assistant.render.risk_pct)."""
    if fact.sql is None or "risk_score" not in fact.sql or fact.scale != 100.0:
        return False
    said = risk_pct(value)
    return said in (ABOVE, BELOW) and said in text


def fact_problem(fact: Fact, text: str, resolver: Resolver) -> str | None:
    """Why the answer misses this fact, or None when it states it."""
    if fact.text is not None and fact.text not in text:
        return f"missing text {fact.text!r}"
    if fact.sql_text is not None:
        missing = [str(v) for v in resolver.values(fact.sql_text) if str(v) not in text]
        if missing:
            return f"missing {', '.join(missing[:3])}"
    if fact.sql is not None:
        written = [abs(n) for n in _numbers(text)]
        for value in resolver.values(fact.sql):
            if value is None:
                continue
            target = abs(round(float(value) * fact.scale, fact.decimals))
            unit = 10.0**-fact.decimals
            if _bounded(fact, float(value), text):
                continue  # a student's probability at an extreme is written as its bound
            if not any(abs(n - target) <= unit + 1e-9 for n in written):
                return f"missing number {target:.{fact.decimals}f}"
    return None


def score(item: GoldItem, answer: Answer, resolver: Resolver, latency_ms: float = 0.0,
          tool_ms: float = 0.0) -> ItemResult:  # fmt: skip
    """Score one answer; ``item`` has its placeholders filled already."""
    made = [(c.name, c.arguments) for c in answer.tool_calls]
    tools_ok, args_ok = calls_match(made, item.tools)
    outcome_ok = answer.outcome == OUTCOME_OF[item.expect]
    problems = [] if outcome_ok else [f"outcome {answer.outcome}, expected {item.expect}"]
    facts = [fact_problem(f, answer.text, resolver) for f in item.facts]
    problems += [p for p in facts if p]
    if not args_ok:
        problems.append(f"calls {[normalise(n, a) for n, a in made]}")
    dropped = item.expect == "answer" and silent_drop(made, item.tools, answer)
    if dropped:
        problems.append("a part of the question dropped silently")
    facts_ok = not any(facts)
    correct = outcome_ok and facts_ok and (bool(item.facts) or tools_ok)
    answered = answer.outcome == "answered"
    return ItemResult(
        id=item.id,
        set=item.set,
        source=item.source,
        expect=item.expect,
        outcome=answer.outcome,
        tools_ok=tools_ok,
        args_ok=args_ok,
        facts_ok=facts_ok,
        correct=correct,
        numbers=len(numbers_in_text(answer.text)) if answered else 0,
        ungrounded=ungrounded_numbers(answer.text, answer.tool_calls) if answered else [],
        silent_drop=dropped,
        latency_ms=latency_ms,
        tool_ms=tool_ms,
        problems=problems,
    )


def _share(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 1)
    return round(statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1], 1)


def metrics(results: list[ItemResult]) -> dict[str, Any]:
    """The metrics over a list of results (one set, or all), with counts."""
    n = len(results)
    refused = [r for r in results if r.outcome == "refused"]
    should = [r for r in results if r.expect == "refuse"]
    hits = [r for r in refused if r.expect == "refuse"]
    numbers = sum(r.numbers for r in results)
    ungrounded = sum(len(r.ungrounded) for r in results)
    own = [max(r.latency_ms - r.tool_ms, 0.0) for r in results]
    return {
        "items": n,
        "correct": sum(r.correct for r in results),
        "answer_correctness": _share(sum(r.correct for r in results), n),
        "tool_selection": _share(sum(r.tools_ok for r in results), n),
        "argument_exact_match": _share(sum(r.args_ok for r in results), n),
        "numbers": numbers,
        "ungrounded_numbers": ungrounded,
        "unfaithful_share": _share(ungrounded, numbers) if numbers else 0.0,
        "refusal_precision": _share(len(hits), len(refused)),
        "refusal_recall": _share(len(hits), len(should)),
        "clarification_rate": _share(sum(r.outcome == "clarified" for r in results), n),
        # answered, but not the question asked (or not with its facts): worse than a question back
        "wrong_rate": _share(sum(r.outcome == "answered" and not r.correct for r in results), n),
        "silent_drops": sum(r.silent_drop for r in results),
        "latency_p50_ms": _percentile([r.latency_ms for r in results], 50),
        "latency_p95_ms": _percentile([r.latency_ms for r in results], 95),
        "own_p50_ms": _percentile(own, 50),
        "own_p95_ms": _percentile(own, 95),
    }
