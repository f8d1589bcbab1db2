"""The HTTP benchmark's reading of wrk output and its result files (no server)."""

import json

from benchmarks import results_io
from benchmarks.http import _parse_wrk, markdown

WRK = """Running 5s test @ http://127.0.0.1:8765/health
  1 threads and 16 connections
  Latency Distribution
     50%  612.00us
     75%    1.20ms
     90%    2.10ms
     99%    1.05s
  12034 requests in 5.00s, 1.8MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   2406.80
"""


def test_wrk_output_is_read_with_units_and_errors():
    parsed = _parse_wrk(WRK)
    assert parsed == {"rps": 2406.8, "p50_ms": 0.612, "p99_ms": 1050.0, "requests": 12034,
                      "errors": 7, "non_2xx": 4, "timeouts": 1}  # fmt: skip


def test_results_are_written_as_json_and_markdown(tmp_path):
    load = {"scenario": "GET /health (ceiling)", "concurrency": 16, "rps": 2000.0,
            "p50_ms": 1.0, "p99_ms": 5.0, "requests": 100, "errors": 0, "runs": []}  # fmt: skip
    result = {"students": 10, "workers": 2, "seconds_per_run": 5, "repeats": 3, "load": [load],
              "batch": {"records": 10, "seconds_median": 0.1, "records_per_s": 100,
                        "seconds": [0.1]}}  # fmt: skip
    json_path, md_path = results_io.write("http", result, markdown(result), tmp_path)
    stored = json.loads(json_path.read_text())
    assert stored["machine"]["cores"] >= 1 and stored["load"][0]["rps"] == 2000.0
    assert "| GET /health (ceiling) | 16 | 2,000 | 1.00 |" in md_path.read_text()
