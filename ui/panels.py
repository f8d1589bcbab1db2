"""The side panels of an answer, as plain values (HTML, markdown, a file path): the student card,
the tool calls behind the answer and the equity report. They show what the answer holds and
add nothing of their own."""

from __future__ import annotations

import hashlib
import html
import json
import tempfile
from pathlib import Path
from typing import Any

from assistant.types import Answer, StudentCard, ToolCall

REPORT_NAME = "sara-equity-report.md"
MAX_SUMMARY_FIELDS = 8
MAX_SUMMARY_CHARS = 80
MAX_ARGUMENT_CHARS = 2000


def student_card_html(card: StudentCard) -> str:
    """The student's id, score, level badge, top risk factors and the smallest helpful change."""
    level = card.risk_level.lower()
    level = level if level in ("high", "medium", "low") else "other"
    percent = f"{card.risk_score * 100:.1f}"
    factors = "".join(f"<li>{html.escape(factor)}</li>" for factor in card.top_risk_factors)
    parts = [
        '<div class="card" data-testid="student-card">',
        '<div class="head">',
        f'<span class="sid">{html.escape(card.student_id)}</span>',
        f'<span class="badge {level}">{html.escape(card.risk_level)} risk</span>',
        "</div>",
        f'<div class="score"><span class="pct">{percent} %</span>',
        '<span class="caption">estimated risk</span></div>',
        f'<div class="meter"><div class="fill {level}" style="width:{percent}%"></div></div>',
    ]
    if factors:
        parts.append(f"<h4>Top risk factors</h4><ul>{factors}</ul>")
    if card.counterfactual:
        parts.append(f'<h4>What-if</h4><p class="whatif">{html.escape(card.counterfactual)}</p>')
    parts.append("</div>")
    return "".join(parts)


def tool_calls_markdown(calls: list[ToolCall]) -> str:
    """Each tool run behind the answer: its name, its arguments and a short summary of what it
    returned (or its error)."""
    if not calls:
        return "No tools were run for this answer."
    sections = []
    for number, call in enumerate(calls, start=1):
        arguments = json.dumps(call.arguments, indent=2, default=str, ensure_ascii=False)
        if len(arguments) > MAX_ARGUMENT_CHARS:
            arguments = arguments[:MAX_ARGUMENT_CHARS] + "\n…"
        if call.error:
            result = f"**Error:** {call.error}"
        else:
            result = f"**Returned:** {output_summary(call.data())}"
        sections.append(f"**{number}. `{call.name}`**\n\n```json\n{arguments}\n```\n\n{result}")
    return "\n\n".join(sections)


def output_summary(output: dict[str, Any] | None) -> str:
    """The first few top-level fields of a tool output; lists and objects by their size."""
    if not output:
        return "nothing"
    fields = []
    for name, value in list(output.items())[:MAX_SUMMARY_FIELDS]:
        if isinstance(value, list):
            shown = f"{len(value)} item{'' if len(value) == 1 else 's'}"
        elif isinstance(value, dict):
            shown = f"{len(value)} field{'' if len(value) == 1 else 's'}"
        else:
            shown = f"{value:.4g}" if isinstance(value, float) else str(value)
            if len(shown) > MAX_SUMMARY_CHARS:
                shown = shown[:MAX_SUMMARY_CHARS] + "…"
        fields.append(f"`{name}`: {shown}")
    more = len(output) - MAX_SUMMARY_FIELDS
    if more > 0:
        fields.append(f"and {more} more field{'' if more == 1 else 's'}")
    return "; ".join(fields)


def report_file(markdown: str) -> str:
    """The report written to a temp file named for download. One folder per distinct report, so
    asking for the same report again reuses its file instead of writing another."""
    digest = hashlib.sha256(markdown.encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / "sara-reports" / digest / REPORT_NAME
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(markdown, encoding="utf-8")
    return str(path)


def fallback_note(answer: Answer) -> str:
    if not answer.fallback_reason:
        return ""
    return f"ⓘ Answered by the offline assistant: {answer.fallback_reason}"
