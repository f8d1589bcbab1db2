"""Prometheus metrics of SARA: their definitions, and the observers that feed them. Labels are
route templates, tool names and outcomes, never student ids or other student data. With several
worker processes the values are shared through files in ``PROMETHEUS_MULTIPROC_DIR`` (set by
``sara serve``)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess

if TYPE_CHECKING:
    from tools.session import ToolEvent

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

HTTP_REQUESTS = Counter(
    "sara_http_requests", "HTTP requests by route template, method and status.",
    ["route", "method", "status"],
)  # fmt: skip
HTTP_LATENCY = Histogram(
    "sara_http_request_duration_seconds", "HTTP request latency by route template and status.",
    ["route", "method", "status"], buckets=LATENCY_BUCKETS,
)  # fmt: skip
TOOL_CALLS = Counter(
    "sara_tool_calls", "Tool calls by tool, caller (api/assistant) and outcome.",
    ["tool", "caller", "outcome"],
)  # fmt: skip
TOOL_LATENCY = Histogram(
    "sara_tool_duration_seconds", "Tool run time by tool.", ["tool"], buckets=LATENCY_BUCKETS
)
CHAT_ANSWERS = Counter(
    "sara_chat_answers", "Chat answers by backend, main intent and outcome.",
    ["backend", "intent", "outcome"],
)  # fmt: skip
CHAT_FALLBACKS = Counter(
    "sara_chat_llm_fallbacks", "Turns the LLM backend handed to the offline backend."
)
CHAT_GROUNDING_REPLACED = Counter(
    "sara_chat_grounding_replaced",
    "Answers replaced by the template because a number was not in any tool output.",
    ["backend"],
)
for _backend in ("offline", "llm"):  # a zero series from the start, so dashboards show 0
    CHAT_GROUNDING_REPLACED.labels(_backend)
CHAT_LATENCY = Histogram(
    "sara_chat_duration_seconds", "Time to answer one chat question.", ["backend"],
    buckets=LATENCY_BUCKETS,
)  # fmt: skip
SERVED_RISK = Histogram(
    "sara_served_risk_score", "Risk scores returned to callers.",
    buckets=tuple(round(0.05 * i, 2) for i in range(1, 21)),
)  # fmt: skip
SERVED_LEVELS = Counter("sara_served_risk_level", "Risk levels returned to callers.", ["level"])
MODEL_INFO = Gauge(
    "sara_model_info", "The model being served (value 1).", ["version", "source"],
    multiprocess_mode="mostrecent",
)  # fmt: skip
INPUT_DRIFT = Gauge(
    "sara_input_drift_psi",
    "Population stability index of records served for scoring vs the published students, by "
    "feature (the current window of the latest worker to report; > 0.25 is a large shift).",
    ["feature"], multiprocess_mode="mostrecent",
)  # fmt: skip
DRIFT_RECORDS = Counter(
    "sara_drift_records", "Records served for scoring or explanation (the drift gauge's input)."
)
LLM_LATENCY = Histogram(
    "sara_llm_request_duration_seconds", "LLM endpoint calls by outcome (ok, error).",
    ["outcome"], buckets=LATENCY_BUCKETS,
)  # fmt: skip
LLM_TOKENS = Counter("sara_llm_tokens", "LLM tokens used, by kind (input, output).", ["kind"])
for _outcome in ("ok", "error"):  # zero series from the start: 0 tokens is a figure too
    LLM_LATENCY.labels(_outcome)
for _kind in ("input", "output"):
    LLM_TOKENS.labels(_kind)
READY = Gauge(
    "sara_ready", "1 when the model and warehouse are loaded, else 0.",
    multiprocess_mode="mostrecent",
)  # fmt: skip


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus text format, merged across worker processes when needed."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


def observe_tool(event: ToolEvent) -> None:
    """A tool session observer: counts and times the call, and records the risk scores and
    levels it handed to the caller."""
    outcome = "error" if event.failed else event.outcome
    TOOL_CALLS.labels(event.tool.name, event.via, outcome).inc()
    TOOL_LATENCY.labels(event.tool.name).observe(event.seconds)
    for score, level in event.output.served_scores() if event.output is not None else []:
        SERVED_RISK.observe(score)
        SERVED_LEVELS.labels(level).inc()


def observe_drift(psi: dict[str, float] | None, records: int) -> None:
    DRIFT_RECORDS.inc(records)
    for feature, value in (psi or {}).items():
        INPUT_DRIFT.labels(feature).set(value)


def observe_chat(answer, seconds: float) -> None:
    """Record one chat answer (an ``assistant.Answer``), with its LLM calls."""
    for call in answer.llm_calls:
        LLM_LATENCY.labels("ok" if call.ok else "error").observe(call.seconds)
        LLM_TOKENS.labels("input").inc(call.input_tokens)
        LLM_TOKENS.labels("output").inc(call.output_tokens)
    intent = answer.intents[0] if answer.intents else "none"
    CHAT_ANSWERS.labels(answer.backend, intent, answer.outcome).inc()
    CHAT_LATENCY.labels(answer.backend).observe(seconds)
    if answer.fallback_reason:
        CHAT_FALLBACKS.inc()
    if answer.grounding_replaced:
        CHAT_GROUNDING_REPLACED.labels(answer.backend).inc()
