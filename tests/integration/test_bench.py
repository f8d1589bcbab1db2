"""`sara bench --quick` runs every stage of the benchmark suite end to end, so the suite cannot
rot. Speed is never asserted here: only that each stage measured what it claims, beside its
baseline, and wrote its results."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from benchmarks.suite import STAGES
from tests.timeouts import PIPELINE_TIMEOUT_S

# Every stage once at small sizes: minutes on an idle machine, several times that on a busy one.
QUICK_BENCH_TIMEOUT_S = 2 * PIPELINE_TIMEOUT_S
pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, "-m", "sara.cli", "bench", "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=QUICK_BENCH_TIMEOUT_S,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (result,) = out.glob("*-suite-quick.json")
    return json.loads(result.read_text()), out


def test_every_stage_ran_and_wrote_json_markdown_and_the_growth_plot(quick):
    result, out = quick
    assert result["mode"] == "quick" and list(result["stages"]) == list(STAGES)
    assert result["machine"]["cores"] and result["machine"]["libraries"]["duckdb"]
    markdown = next(out.glob("*-suite-quick.md")).read_text()
    for heading in ("Cohort generation", "Pipeline", "Model quality", "Batch scoring",
                    "explanations", "HTTP", "Chat", "Equity", "Planner",
                    "Comparing interventions", "Start-up"):  # fmt: skip
        assert heading in markdown, heading
    assert next(out.glob("*-suite-quick.png")).stat().st_size > 10_000


def test_each_figure_stands_beside_its_baseline(quick):
    stages = quick[0]["stages"]
    assert all(r["us_per_row"] > 0 and r["peak_rss_gb"] > 0 for r in stages["generation"]["rows"])
    quality = {r["model"]: r for r in stages["quality"]["rows"]}
    assert {"oracle (true risk)", "seed approach (logistic regression, label-encoded)"} <= set(
        quality
    )
    assert any(name.startswith("baseline") for name in quality)
    assert all(0.5 < r["roc_auc"] <= 1 for r in quality.values())
    for row in stages["scoring"]["rows"]:
        assert row["sara_rows_per_s"] > 0 and row["pyfunc_rows_per_s"] > 0
        assert row["pipeline_rows_per_s"] > 0
    explained = stages["explanations"]
    assert explained["rows"] and all(r["rows_per_s"] > 0 for r in explained["rows"])
    # Beside TreeExplainer on the same model, for every grid depth and 400 × depth 6, with the
    # largest difference from XGBoost's own values.
    same = {r["model"]: r for r in explained["same_model"]}
    assert any("400 trees depth 6" in name for name in same)
    assert all(r["tree_explainer_rows_per_s"] > 0 and r["ratio"] > 0 for r in same.values())
    assert all(r["max_abs_diff"] <= 1e-5 for r in same.values() if "max_abs_diff" in r)
    single = stages["single"]
    assert single["known_id"]["p50_ms"] > 0 and single["tree_explainer_400x6_one_row"]["p99_ms"] > 0
    if shutil.which("wrk"):
        health = [r for r in stages["http"]["load"] if "health" in r["scenario"]]
        assert health and all(r["errors"] == 0 for r in stages["http"]["load"])
    else:
        assert "wrk" in stages["http"]["skipped"]
    assert stages["chat"]["questions"] > 0 and stages["chat"]["latency_p95_ms"] > 0
    assert {r["query"] for r in stages["equity"]["rows"]} and all(
        r["duckdb_s"] > 0 and r["pandas_s"] > 0 for r in stages["equity"]["rows"]
    )
    planner = stages["planner"]
    assert 0 <= planner["optimality_gap"] < 1
    reduction = planner["plan_expected_drop"]["expected_risk_reduction"]
    assert reduction >= planner["naive"]["expected_risk_reduction"]
    compared = {r["cohort"]: r for r in stages["interventions"]["rows"]}
    assert set(compared) == {"one student", "the High cohort", "every student"}
    assert all(r["stored_ms"] > 0 and r["on_request_ms"] > 0 for r in compared.values())
    assert all(r["max_abs_diff"] <= 1e-9 for r in compared.values())
    started = {r["command"]: r["seconds"] for r in stages["startup"]["rows"]}
    assert all(seconds > 0 for seconds in started.values())
    assert {"python (the interpreter alone)", "sara chat, one question",
            "sara serve, ready (one worker)"} <= set(started)  # fmt: skip
