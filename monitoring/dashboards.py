"""The Grafana dashboards, generated from the app's metric objects so that their queries
cannot drift from the metric names: ``python -m monitoring.dashboards`` writes
``monitoring/grafana/dashboards/*.json`` (committed; a test checks they are current and that
every query returns data from a real Prometheus scraping the app)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prometheus_client.metrics import MetricWrapperBase

from monitoring import metrics as m

DASHBOARD_DIR = Path(__file__).parent / "grafana" / "dashboards"
DATASOURCE_UID = "sara-prometheus"


def name(metric: MetricWrapperBase, suffix: str = "") -> str:
    """The exposed series name: counters gain ``_total``, histograms ``_bucket`` etc."""
    family = metric.describe()[0]
    if family.type == "counter" and not suffix:
        suffix = "_total"
    return family.name + suffix


def _rate(metric: MetricWrapperBase, by: str, window: str = "5m", where: str = "") -> str:
    return f"sum by ({by}) (rate({name(metric)}{where}[{window}]))"


def _p95(metric: MetricWrapperBase, by: str) -> str:
    bucket = name(metric, "_bucket")
    return f"histogram_quantile(0.95, sum by (le, {by}) (rate({bucket}[5m])))"


USAGE: list[tuple[str, str, str]] = [
    ("Requests per second by route", "timeseries", _rate(m.HTTP_REQUESTS, "route")),
    ("Latency p95 by route (s)", "timeseries", _p95(m.HTTP_LATENCY, "route")),
    ("Errors per second (4xx, 5xx)", "timeseries",
     _rate(m.HTTP_REQUESTS, "route, status", where='{status=~"4..|5.."}')),
    ("Chat answers by outcome (1 h)", "piechart",
     f"sum by (outcome) (increase({name(m.CHAT_ANSWERS)}[1h]))"),
    ("Top chat intents (1 h)", "bargauge",
     f"topk(5, sum by (intent) (increase({name(m.CHAT_ANSWERS)}[1h])))"),
    ("Chat latency p95 by backend (s)", "timeseries", _p95(m.CHAT_LATENCY, "backend")),
    ("Answers replaced by the grounding guard (1 h)", "stat",
     f"sum(increase({name(m.CHAT_GROUNDING_REPLACED)}[1h]))"),
    ("LLM turns answered offline instead (1 h)", "stat",
     f"sum(increase({name(m.CHAT_FALLBACKS)}[1h]))"),
    ("Tool calls per second by tool and outcome", "timeseries",
     _rate(m.TOOL_CALLS, "tool, outcome")),
    ("LLM call latency p95 by outcome (s)", "timeseries", _p95(m.LLM_LATENCY, "outcome")),
    ("LLM tokens per second by kind", "timeseries", _rate(m.LLM_TOKENS, "kind")),
]  # fmt: skip
MODEL: list[tuple[str, str, str]] = [
    ("Served risk scores (1 h)", "bargauge",
     f"sum by (le) (increase({name(m.SERVED_RISK, '_bucket')}[1h]))"),
    ("Share of served scores at High (1 h)", "stat",
     f'sum(increase({name(m.SERVED_LEVELS)}{{level="High"}}[1h])) '
     f"/ sum(increase({name(m.SERVED_LEVELS)}[1h]))"),
    ("Served risk levels per second", "timeseries", _rate(m.SERVED_LEVELS, "level")),
    ("Model version in service", "table", f"max by (version, source) ({name(m.MODEL_INFO)})"),
    ("Model and warehouse loaded", "stat", f"min({name(m.READY)})"),
    ("Input drift: PSI by feature (> 0.25 is a large shift)", "timeseries",
     f"max by (feature) ({name(m.INPUT_DRIFT)})"),
    ("Largest input drift now (PSI)", "stat", f"max({name(m.INPUT_DRIFT)})"),
    ("Records checked for drift per second", "timeseries",
     f"sum(rate({name(m.DRIFT_RECORDS)}[5m]))"),
]  # fmt: skip
DASHBOARDS = {"sara-usage": ("SARA — usage", USAGE), "sara-model": ("SARA — model", MODEL)}


def dashboard(uid: str, title: str, panels: list[tuple[str, str, str]]) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "tags": ["sara"],
        "timezone": "browser",
        "schemaVersion": 39,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "panels": [
            {
                "id": index + 1,
                "title": panel_title,
                "type": kind,
                "datasource": {"type": "prometheus", "uid": DATASOURCE_UID},
                "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
                "targets": [
                    {
                        "refId": "A",
                        "expr": expr,
                        "datasource": {"type": "prometheus", "uid": DATASOURCE_UID},
                    }
                ],
            }
            for index, (panel_title, kind, expr) in enumerate(panels)
        ],
    }


def rendered() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    return {
        f"{uid}.json": json.dumps(dashboard(uid, title, panels), indent=2) + "\n"
        for uid, (title, panels) in DASHBOARDS.items()
    }


def queries(folder: Path = DASHBOARD_DIR) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every panel in the dashboard files."""
    found = []
    for path in sorted(folder.glob("*.json")):
        for panel in json.loads(path.read_text(encoding="utf-8"))["panels"]:
            found += [(panel["title"], target["expr"]) for target in panel["targets"]]
    return found


def write(folder: Path = DASHBOARD_DIR) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for file_name, text in rendered().items():
        path = folder / file_name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":
    for path in write():
        print(path)
