"""Load and soak: `sara serve` under wrk from a second process on 127.0.0.1, on the routes staff
use most — a student's risk, a student's explanation and a chat question — then a mixed soak
that samples the server's memory (RSS of every worker) while it runs.

Every request is counted: wrk's non-2xx responses and socket errors (connect, read, write,
timeout) are the errors. Nothing here asserts speed; the figures go to benchmarks/results/."""

from __future__ import annotations

import json
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil

from benchmarks.http import LoadResult, Server, _lua, _median_result, _wrk, prepare_target, summary

# Questions staff ask, with a student id put in where the braces are.
QUESTIONS = (
    "Why is {} high risk?",
    "What is the risk of {}?",
    "What would help {}?",
    "Which students are at high risk in grade 9?",
    "How does the outcome rate differ by locale?",
)
SCENARIOS = ("risk", "explanation", "chat")


def _pick(ids: list[str]) -> str:
    return "local ids = {" + ", ".join(f'"{i}"' for i in ids) + "}\n"


def scripts(folder: Path, key: str, ids: list[str]) -> dict[str, Path]:
    """Scenario → wrk script; each request picks a random student (and question)."""
    header = f'wrk.headers["Authorization"] = "Bearer {key}"\n' + _pick(ids)
    get = (
        "request = function()\n"
        '  return wrk.format("GET", "/v1/students/" .. ids[math.random(#ids)] .. "{suffix}")\n'
        "end\n"
    )
    questions = "local questions = {" + ", ".join(json.dumps(q) for q in QUESTIONS) + "}\n"
    chat = (
        'wrk.headers["Content-Type"] = "application/json"\n'
        + questions
        + "local function chat()\n"
        + "  local q = string.format(questions[math.random(#questions)], ids[math.random(#ids)])\n"
        + '  return wrk.format("POST", "/v1/chat", nil, \'{"question": "\' .. q .. \'"}\')\n'
        + "end\n"
    )
    mixed = (
        chat
        + "local n = 0\n"
        + "request = function()\n"
        + "  n = n + 1\n"
        + "  local id = ids[math.random(#ids)]\n"
        + '  if n % 3 == 0 then return wrk.format("GET", "/v1/students/" .. id .. "/risk") end\n'
        + "  if n % 3 == 1 then\n"
        + '    return wrk.format("GET", "/v1/students/" .. id .. "/explanation")\n'
        + "  end\n"
        + "  return chat()\n"
        + "end\n"
    )
    explanation = header + get.replace("{suffix}", "/explanation")
    return {
        "risk": _lua(folder, "risk", header + get.replace("{suffix}", "/risk")),
        "explanation": _lua(folder, "explanation", explanation),
        "chat": _lua(folder, "chat", header + chat + "request = chat\n"),
        "mixed": _lua(folder, "mixed", header + mixed),
    }


def server_rss_mb(process: subprocess.Popen) -> float:
    """Resident memory of the server and all its workers, in MB."""
    try:
        root = psutil.Process(process.pid)
        members = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for member in members:
        try:
            total += member.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return round(total / 1024**2, 1)


def soak(
    server: Server,
    script: Path,
    concurrency: int,
    minutes: float,
    timeout: float,
    progress: Callable[[str], None],
) -> dict:
    """The mixed script for ``minutes`` in one wrk run, the server's RSS sampled every 10 s."""
    samples: list[tuple[float, float]] = []
    started = time.monotonic()
    done = threading.Event()

    def sample() -> None:
        while not done.wait(10):
            samples.append((round(time.monotonic() - started, 1), server_rss_mb(server.process)))

    samples.append((0.0, server_rss_mb(server.process)))
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = _wrk(server.url + "/", script, concurrency, minutes * 60, timeout)
    finally:
        done.set()
        sampler.join()
    samples.append((round(time.monotonic() - started, 1), server_rss_mb(server.process)))
    rss = [mb for _, mb in samples]
    progress(
        f"soak {minutes:g} min: {result['requests']:,} requests, {result['errors']} errors, "
        f"RSS {rss[0]:.0f} → {rss[-1]:.0f} MB (max {max(rss):.0f})"
    )
    return {
        "minutes": minutes,
        "concurrency": concurrency,
        **result,
        "rss_start_mb": rss[0],
        "rss_end_mb": rss[-1],
        "rss_max_mb": max(rss),
        "rss_growth_pct": round((rss[-1] / rss[0] - 1) * 100, 1) if rss[0] else None,
        "rss_samples": samples,
    }


def run(
    students: int = 20_000,
    workers: int = 2,
    concurrency: int = 16,
    seconds: float = 10,
    repeats: int = 3,
    soak_minutes: float = 10,
    timeout: float = 5,
    home: Path | None = None,
    progress: Callable[[str], None] = print,
) -> dict:
    target = prepare_target(
        home, students, "load test", "SELECT student_id FROM scores ORDER BY random() LIMIT 2000",
        progress,
    )  # fmt: skip
    home, key = target.home, target.key
    ids = target.sample["student_id"].tolist()
    server = Server(home, workers)
    results: list[LoadResult] = []
    soaked = None
    try:
        server.wait_ready()
        for student in ids[: 4 * workers]:  # each worker loads its score index on first use
            httpx.get(f"{server.url}/v1/students/{student}/explanation",
                      headers={"Authorization": f"Bearer {key}"}, timeout=300)  # fmt: skip
        with tempfile.TemporaryDirectory() as folder:
            paths = scripts(Path(folder), key, ids)
            for name in SCENARIOS:
                _wrk(server.url + "/", paths[name], concurrency, 2, timeout)  # warm-up
                runs = [_wrk(server.url + "/", paths[name], concurrency, seconds, timeout)
                        for _ in range(repeats)]  # fmt: skip
                results.append(_median_result(name, concurrency, runs))
                r = results[-1]
                progress(
                    f"{name} at concurrency {concurrency}: {r.requests:,} requests, "
                    f"{r.errors} errors, {r.rps:,.0f} req/s, p50 {r.p50_ms:.1f} ms, "
                    f"p99 {r.p99_ms:.1f} ms"
                )
            if soak_minutes > 0:
                soaked = soak(server, paths["mixed"], concurrency, soak_minutes, timeout, progress)
        refused = error_statuses(server.url)
    finally:
        server.stop()
    return summary(students, workers, seconds, repeats, results, soak=soaked,
                   error_statuses=refused)  # fmt: skip


def error_statuses(url: str) -> dict[str, int]:
    """The server's own count of 4xx/5xx answers, by route and status (from /metrics): what
    wrk's non-2xx count was made of."""
    from prometheus_client.parser import text_string_to_metric_families

    counts: dict[str, int] = {}
    text = httpx.get(f"{url}/metrics", timeout=30).text
    for family in text_string_to_metric_families(text):
        if family.name != "sara_http_requests":
            continue
        for sample in family.samples:
            status = sample.labels.get("status", "")
            if sample.name.endswith("_total") and status[:1] in ("4", "5"):
                name = f"{sample.labels['method']} {sample.labels['route']} {status}"
                counts[name] = counts.get(name, 0) + int(sample.value)
    return counts


def markdown(result: dict) -> str:
    lines = [
        f"Load: `sara serve --workers {result['workers']}` on {result['students']:,} students; "
        f"wrk (1 thread) in a second process on 127.0.0.1; {result['repeats']} runs of "
        f"{result['seconds_per_run']:g} s per route (req/s and latencies: median of the runs; "
        "requests and errors: all runs).",
        "",
        "| route | concurrency | requests | errors | req/s | p50 ms | p99 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    routes = {
        "risk": "GET /v1/students/{id}/risk",
        "explanation": "GET /v1/students/{id}/explanation",
        "chat": "POST /v1/chat",
    }
    for r in result["load"]:
        lines.append(
            f"| {routes.get(r['scenario'], r['scenario'])} | {r['concurrency']} | "
            f"{r['requests']:,} | {r['errors']} | {r['rps']:,.0f} | {r['p50_ms']:.1f} | "
            f"{r['p99_ms']:.1f} |"
        )
    s = result.get("soak")
    if s:
        lines += [
            "",
            f"Soak: {s['minutes']:g} min of mixed traffic (risk, explanation, chat in turn) at "
            f"concurrency {s['concurrency']}: {s['requests']:,} requests, {s['errors']} errors, "
            f"p50 {s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms. Server RSS (all workers): "
            f"**{s['rss_start_mb']:.0f} MB at the start, {s['rss_end_mb']:.0f} MB at the end** "
            f"({s['rss_growth_pct']:+.1f} %), {s['rss_max_mb']:.0f} MB at most.",
        ]
    return "\n".join(lines) + "\n"
