"""A bounded load from a second process: wrk on a real `sara serve` (2 workers) for a fixed time
on a student's risk, explanation and chat, and a short mixed soak — every request answered
without an error, by the same worker processes throughout. Latencies and memory are reported,
never asserted (`sara bench load` measures them)."""

from __future__ import annotations

import shutil

import pytest

from benchmarks import load
from tests.timeouts import HTTP_TIMEOUT_S

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed"),
]


@pytest.fixture(scope="module")
def loaded(published):
    # wrk counts a request unanswered after `timeout` seconds as an error, and errors are under
    # test: the bound is an HTTP request's, not a latency target.
    return load.run(
        workers=2, concurrency=16, seconds=3, repeats=1, soak_minutes=0.25, warmup_minutes=0.1,
        timeout=HTTP_TIMEOUT_S, home=published.home, progress=print,
    )  # fmt: skip


def test_every_request_under_load_is_answered(loaded):
    assert [r["scenario"] for r in loaded["load"]] == list(load.SCENARIOS)
    for r in loaded["load"]:
        assert r["requests"] > 0 and r["errors"] == 0, r
        assert 0 < r["p50_ms"] <= r["p99_ms"], r
    assert loaded["error_statuses"] == {}  # the server's own count agrees


def test_a_mixed_soak_has_no_errors_and_samples_memory(loaded):
    soak = loaded["soak"]
    assert soak["requests"] > 0 and soak["errors"] == 0, soak
    assert len(soak["rss_samples"]) >= 3 and soak["rss_start_mb"] > 0
    # the warm-up runs before the measured minutes: memory is judged from its end
    assert soak["warmup_minutes"] == 0.1 and soak["warmup_s"] == 6.0
    assert soak["rss_samples"][-1][0] >= 0.35 * 60 - 1 and soak["rss_warm_mb"] > 0
    assert "after 0.1 min of the same as warm-up" in load.markdown(loaded)
    assert len(soak["rss_by_process"][0][1]) >= 3  # the server and its two workers
    assert not soak["processes_replaced"], soak["rss_by_process"]
    print(load.markdown(loaded))
