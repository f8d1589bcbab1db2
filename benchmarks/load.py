"""Load and soak: `sara serve` under wrk from a second process on 127.0.0.1, on the routes staff
use most — a student's risk, a student's explanation and a chat question — then a mixed soak
that samples the server's memory (RSS of every worker) while it runs. Memory is judged after a
warm-up (the first fifth of the soak, at least a minute when the soak is long enough): caches
fill then; what grows after it, grows with the requests. A single sample moves by tens of MB
with what is in flight at that instant, so the figures after warm-up are medians over a window
(the first and the last minute after warm-up) and a least-squares slope, not two samples.

Every request is counted: wrk's non-2xx responses and socket errors (connect, read, write,
timeout) are the errors. Nothing here asserts speed; the figures go to benchmarks/results/."""

from __future__ import annotations

import json
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil

from benchmarks.http import LoadResult, Server, _lua, _median_result, _wrk, prepare_target, summary
from data.spec import DatasetSpec, Role

# Questions staff ask, with a student id put in where the braces are; ``questions`` adds
# two about groups in the dataset's own words.
QUESTIONS = (
    "Why is {} high risk?",
    "What is the risk of {}?",
    "What would help {}?",
)
SCENARIOS = ("risk", "explanation", "chat")
SAMPLE_EVERY_S = 10
WARMUP_SHARE, WARMUP_MIN_S = 0.2, 60.0


def _pick(ids: list[str]) -> str:
    return "local ids = {" + ", ".join(f'"{i}"' for i in ids) + "}\n"


def questions(spec: DatasetSpec) -> list[str]:
    """The chat questions of the load: about one student, and about groups of the dataset's
    first protected or context column with categories."""
    grouped = next(
        (c for c in spec.columns if c.categories and c.role in (Role.PROTECTED, Role.CONTEXT)),
        None,
    )
    if grouped is None:
        return [*QUESTIONS, "Which students are at high risk?"]
    label = grouped.display_name.lower()
    return [
        *QUESTIONS,
        f"Which students are at high risk by {label}?",
        f"How does the outcome rate differ by {label}?",
    ]


def scripts(folder: Path, key: str, ids: list[str], asked: list[str]) -> dict[str, Path]:
    """Scenario → wrk script; each request picks a random student (and question)."""
    header = f'wrk.headers["Authorization"] = "Bearer {key}"\n' + _pick(ids)
    get = (
        "request = function()\n"
        '  return wrk.format("GET", "/v1/students/" .. ids[math.random(#ids)] .. "{suffix}")\n'
        "end\n"
    )
    # Lua's string.format puts the id where "%s" is (a literal "%" is written "%%").
    lua = [json.dumps(q.replace("%", "%%").replace("{}", "%s")) for q in asked]
    chat = (
        'wrk.headers["Content-Type"] = "application/json"\n'
        + "local questions = {"
        + ", ".join(lua)
        + "}\n"
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


def server_rss(process: subprocess.Popen) -> dict[int, float]:
    """Resident memory of the server and each of its workers, in MB, by process id."""
    try:
        root = psutil.Process(process.pid)
        members = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return {}
    found = {}
    for member in members:
        try:
            found[member.pid] = round(member.memory_info().rss / 1024**2, 1)
        except psutil.NoSuchProcess:
            continue
    return found


def server_rss_mb(process: subprocess.Popen) -> float:
    """Resident memory of the server and all its workers, in MB."""
    return round(sum(server_rss(process).values()), 1)


def warmup_seconds(minutes: float, warmup_minutes: float | None = None) -> float:
    """How much of a soak of ``minutes`` is warm-up: ``warmup_minutes`` when given (run before
    the ``minutes`` measured), else a share of the soak."""
    if warmup_minutes is not None:
        return warmup_minutes * 60
    total = minutes * 60
    return min(max(WARMUP_SHARE * total, WARMUP_MIN_S), total / 2)


def soak(
    server: Server,
    script: Path,
    concurrency: int,
    minutes: float,
    timeout: float,
    progress: Callable[[str], None],
    warmup_minutes: float | None = None,
) -> dict:
    """The mixed script for ``minutes`` in one wrk run (after ``warmup_minutes`` of the same
    traffic, when given), the server's RSS sampled every 10 s (in all, and by process: the
    workers' ids show whether one was replaced)."""
    samples: list[tuple[float, float]] = []
    by_process: list[tuple[float, dict[int, float]]] = []
    started = time.monotonic()
    done = threading.Event()

    def take() -> None:
        at, found = round(time.monotonic() - started, 1), server_rss(server.process)
        samples.append((at, round(sum(found.values()), 1)))
        by_process.append((at, found))

    def sample() -> None:
        while not done.wait(SAMPLE_EVERY_S):
            take()

    take()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        length = (minutes + (warmup_minutes or 0)) * 60
        result = _wrk(server.url + "/", script, concurrency, length, timeout)
    finally:
        done.set()
        sampler.join()
    take()
    rss = [mb for _, mb in samples]
    warm_at = warmup_seconds(minutes, warmup_minutes)
    after_warmup = [(at, mb) for at, mb in samples if at >= warm_at] or samples[-1:]
    rss_after = [mb for _, mb in after_warmup]
    window = min(60.0, (after_warmup[-1][0] - warm_at) / 2)
    # a soak shorter than the sampling period has one sample in a window, or none: the nearest
    warm = _median([mb for at, mb in after_warmup if at <= warm_at + window] or [rss_after[0]])
    end = _median(
        [mb for at, mb in after_warmup if at >= after_warmup[-1][0] - window] or [rss_after[-1]]
    )
    slope = _slope_per_minute(after_warmup)
    pids = [set(found) for _, found in by_process]
    progress(
        f"soak {minutes:g} min: {result['requests']:,} requests, {result['errors']} errors, "
        f"RSS {rss[0]:.0f} at the start, {warm:.0f} after warm-up, {end:.0f} MB at the end "
        f"({(end / warm - 1) * 100:+.1f} % after warm-up, {slope:+.1f} MB/min; "
        f"max {max(rss):.0f})"
    )
    return {
        "minutes": minutes,
        "warmup_minutes": warmup_minutes,
        "concurrency": concurrency,
        **result,
        "rss_start_mb": rss[0],
        "rss_warm_mb": warm,  # median of the first window after warm-up
        "warmup_s": warm_at,
        "rss_end_mb": end,  # median of the last window
        "rss_last_mb": rss[-1],
        "rss_max_mb": max(rss),
        "rss_growth_pct": round((rss[-1] / rss[0] - 1) * 100, 1) if rss[0] else None,
        "rss_growth_after_warmup_pct": round((end / warm - 1) * 100, 1) if warm else None,
        "rss_slope_mb_per_min": round(slope, 2),
        "processes_replaced": pids[0] != pids[-1],
        "rss_samples": samples,
        "rss_by_process": by_process,
    }


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 1)


def _slope_per_minute(samples: list[tuple[float, float]]) -> float:
    """The least-squares slope of (seconds, MB) samples, in MB per minute."""
    if len(samples) < 2:
        return 0.0
    mean_t = sum(t for t, _ in samples) / len(samples)
    mean_mb = sum(mb for _, mb in samples) / len(samples)
    spread = sum((t - mean_t) ** 2 for t, _ in samples)
    return 60 * sum((t - mean_t) * (mb - mean_mb) for t, mb in samples) / spread if spread else 0.0


def run(
    students: int = 20_000,
    workers: int = 2,
    concurrency: int = 16,
    seconds: float = 10,
    repeats: int = 3,
    soak_minutes: float = 10,
    timeout: float = 5,
    warmup_minutes: float | None = None,
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
            paths = scripts(Path(folder), key, ids, questions(target.spec))
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
                soaked = soak(server, paths["mixed"], concurrency, soak_minutes, timeout, progress,
                              warmup_minutes)  # fmt: skip
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
            f"Soak: {s['minutes']:g} min of mixed traffic (risk, explanation, chat in turn)"
            + (
                f" after {s['warmup_minutes']:g} min of the same as warm-up"
                if s.get("warmup_minutes")
                else ""
            )
            + " at "
            f"concurrency {s['concurrency']}: {s['requests']:,} requests, {s['errors']} errors, "
            f"p50 {s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms. Server RSS (all workers): "
            f"**{s['rss_start_mb']:.0f} MB at the start, {s['rss_warm_mb']:.0f} MB after "
            f"{s['warmup_s']:.0f} s of warm-up, {s['rss_end_mb']:.0f} MB at the end** "
            f"({s['rss_growth_after_warmup_pct']:+.1f} % after warm-up, "
            f"{s['rss_slope_mb_per_min']:+.1f} MB/min; medians of a minute), "
            f"{s['rss_max_mb']:.0f} MB at most"
            + (
                "; a worker process was replaced during the soak."
                if s["processes_replaced"]
                else "."
            ),
        ]
    return "\n".join(lines) + "\n"
