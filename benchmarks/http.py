"""HTTP benchmark: `sara serve` under a bounded load from wrk in a second process on 127.0.0.1.

Each scenario runs ``repeats`` times and reports the median requests/s and p50/p99 latency,
beside the bare ``/health`` route measured in the same run (the server's ceiling on this
machine). Batch scoring is timed end to end (JSON in and out) with one big call."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from api.keys import KeyStore
from data.spec import Role
from sara.settings import Settings

if TYPE_CHECKING:
    import pandas as pd

    from data.spec import DatasetSpec

HEALTH = "GET /health (ceiling)"
BARE = "GET /health of a bare FastAPI app (baseline)"
WRK_LINE = {
    "rps": re.compile(r"Requests/sec:\s+([\d.]+)"),
    "p50": re.compile(r"^\s+50%\s+([\d.]+)(us|ms|s)\s*$", re.M),
    "p99": re.compile(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", re.M),
    "requests": re.compile(r"(\d+) requests in"),
    "non_2xx": re.compile(r"Non-2xx or 3xx responses: (\d+)"),
    "socket_errors": re.compile(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"),
}  # fmt: skip
UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass
class LoadResult:
    scenario: str
    concurrency: int
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    runs: list[dict] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, timeout: float) -> None:
    """Poll ``url`` until it answers 200; RuntimeError when ``process`` exits first or the
    time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited (code {process.returncode}) before {url} was up")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} was not up after {timeout:.0f} s")


def _parse_wrk(output: str) -> dict:
    def latency(name: str) -> float:
        match = WRK_LINE[name].search(output)
        return float(match.group(1)) * UNIT_MS[match.group(2)]

    sockets = WRK_LINE["socket_errors"].search(output)
    non_2xx = WRK_LINE["non_2xx"].search(output)
    connect, read, write, timeout = (int(g) for g in sockets.groups()) if sockets else (0,) * 4
    return {
        "rps": float(WRK_LINE["rps"].search(output).group(1)),
        "p50_ms": latency("p50"),
        "p99_ms": latency("p99"),
        "requests": int(WRK_LINE["requests"].search(output).group(1)),
        "errors": (int(non_2xx.group(1)) if non_2xx else 0) + connect + read + write + timeout,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "timeouts": timeout,
    }


def _lua(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.lua"
    path.write_text(body, encoding="utf-8")
    return path


def _scripts(
    folder: Path, key: str, ids: list[str], record: dict
) -> dict[str, tuple[str, Path | None]]:
    """Scenario → (URL path, wrk script)."""
    header = f'wrk.headers["Authorization"] = "Bearer {key}"\n'
    id_list = ", ".join(f'"{i}"' for i in ids)
    random_id = (
        header
        + f"local ids = {{{id_list}}}\n"
        + "request = function()\n"
        + '  return wrk.format("GET", "/v1/students/" .. ids[math.random(#ids)] .. "/risk")\n'
        + "end\n"
    )
    post = (
        header
        + 'wrk.method = "POST"\n'
        + 'wrk.headers["Content-Type"] = "application/json"\n'
        + f"wrk.body = [[{json.dumps({'record': record})}]]\n"
    )
    return {
        HEALTH: ("/health", None),
        "GET /v1/students/{id}/risk": ("/", _lua(folder, "risk", random_id)),
        "POST /v1/score (one record)": ("/v1/score", _lua(folder, "score", post)),
    }


def _wrk(
    url: str, script: Path | None, concurrency: int, seconds: float, timeout: float = 2
) -> dict:
    """One wrk run; a request unanswered after ``timeout`` seconds counts as an error."""
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds:g}s", f"--timeout={timeout:g}s",
               "--latency", url]  # fmt: skip
    if script is not None:
        command[1:1] = ["-s", str(script)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    parsed = _parse_wrk(done.stdout)
    if parsed["requests"] == 0 or parsed["errors"] == parsed["requests"]:
        raise RuntimeError(f"every request to {url} failed; is the scenario right?")
    return parsed


def _median_result(name: str, concurrency: int, runs: list[dict]) -> LoadResult:
    return LoadResult(
        scenario=name,
        concurrency=concurrency,
        rps=statistics.median(r["rps"] for r in runs),
        p50_ms=statistics.median(r["p50_ms"] for r in runs),
        p99_ms=statistics.median(r["p99_ms"] for r in runs),
        requests=sum(r["requests"] for r in runs),
        errors=sum(r["errors"] for r in runs),
        runs=runs,
    )


class Server:
    """`sara serve` in its own process on a free local port (``bare``: the baseline app of
    benchmarks/bare_app.py under uvicorn instead, with as many workers)."""

    def __init__(self, home: Path, workers: int, bare: bool = False):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ready = "/health" if bare else "/ready"
        env = {**os.environ, "SARA_HOME": str(home), "SARA_PORT": str(self.port)}
        env["SARA_LOG_LEVEL"] = "WARNING"
        command = (
            ["uvicorn", "benchmarks.bare_app:app", "--port", str(self.port), "--no-access-log",
             "--log-level", "warning"]
            if bare
            else ["sara.cli", "serve"]
        )  # fmt: skip
        self.process = subprocess.Popen(
            [sys.executable, "-m", *command, "--workers", str(workers)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait_ready(self, timeout: float = 180) -> None:
        wait_until_up(f"{self.url}{self.ready}", self.process, timeout)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def prepare_workspace(home: Path, students: int, progress: Callable[[str], None]) -> Settings:
    """A workspace with a published warehouse of ``students`` (reused if already there)."""
    from pipeline.run import run_pipeline

    settings = Settings(home=home)
    if not settings.warehouse_path.is_file():
        progress(f"building a workspace of {students:,} students in {home}")
        run_pipeline(settings, generate=students, progress=progress)
    return settings


@dataclass
class Target:
    """A published workspace to load, a staff key for the requests, and a sample of its rows."""

    home: Path
    settings: Settings
    key: str
    sample: pd.DataFrame
    spec: DatasetSpec

    @property
    def outcome_columns(self) -> list[str]:
        """The outcome and the columns that define it: never sent for scoring."""
        return [self.spec.outcome.name, *self.spec.names_with_role(Role.OUTCOME_SOURCE)]


def prepare_target(
    home: Path | None, students: int, purpose: str, sample_sql: str,
    progress: Callable[[str], None],
) -> Target:  # fmt: skip
    """Check wrk is there, build (or reuse) the workspace, issue a key and read ``sample_sql``."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    home = home or Path(tempfile.mkdtemp(prefix="sara-bench-")) / "ws"
    settings = prepare_workspace(home, students, progress)
    _, key = KeyStore(settings.keys_path).create(purpose, "staff")
    from tools.context import load_context

    ctx = load_context(settings)
    try:
        sample = ctx.sql(sample_sql)
        spec = ctx.spec
    finally:
        ctx.close()
    return Target(home, settings, key, sample, spec)


def run(
    students: int = 100_000,
    workers: int = 2,
    concurrency: tuple[int, ...] = (16, 64),
    seconds: float = 10,
    repeats: int = 3,
    batch: int = 50_000,
    home: Path | None = None,
    progress: Callable[[str], None] = print,
) -> dict:
    target = prepare_target(
        home, students, "benchmark", f"SELECT * FROM students ORDER BY random() LIMIT {batch}",
        progress,
    )  # fmt: skip
    home, key = target.home, target.key
    frame = target.sample
    ids = frame[target.spec.id_column].astype(str).head(5000).tolist()
    records = frame.drop(columns=[c for c in target.outcome_columns if c in frame.columns]).to_dict(
        "records"
    )
    results: list[LoadResult] = []
    bare = Server(home, workers, bare=True)
    try:
        bare.wait_ready()
        _wrk(bare.url + "/health", None, 16, 2)
        for c in concurrency:
            runs = [_wrk(bare.url + "/health", None, c, seconds) for _ in range(repeats)]
            results.append(_median_result(BARE, c, runs))
            progress(f"{BARE} at concurrency {c}: {results[-1].rps:,.0f} req/s")
    finally:
        bare.stop()
    server = Server(home, workers)
    try:
        server.wait_ready()
        # The first lookups in each worker load its score index (seconds at 100k students):
        # let them finish before wrk's warm-up, whose requests time out after 2 s.
        for student in ids[: 4 * workers]:
            httpx.get(f"{server.url}/v1/students/{student}/risk",
                      headers={"Authorization": f"Bearer {key}"}, timeout=300)  # fmt: skip
        with tempfile.TemporaryDirectory() as folder:
            scripts = _scripts(Path(folder), key, ids, records[0])
            for name, (path, script) in scripts.items():
                _wrk(server.url + path, script, 16, 2)  # warm-up: indexes, caches, JIT paths
                for c in concurrency:
                    runs = [_wrk(server.url + path, script, c, seconds) for _ in range(repeats)]
                    results.append(_median_result(name, c, runs))
                    progress(
                        f"{name} at concurrency {c}: {results[-1].rps:,.0f} req/s, "
                        f"p50 {results[-1].p50_ms:.1f} ms, p99 {results[-1].p99_ms:.1f} ms"
                    )
        batch_result = _batch(server.url, key, records, repeats)
        progress(f"batch of {batch:,} records: {batch_result['records_per_s']:,.0f} records/s")
    finally:
        server.stop()
    return summary(students, workers, seconds, repeats, results, batch=batch_result)


def summary(students: int, workers: int, seconds: float, repeats: int,
            results: list[LoadResult], **more: object) -> dict:  # fmt: skip
    """The JSON result of a load benchmark: its settings, each scenario's median run, and
    whatever else the benchmark measured."""
    return {
        "students": students,
        "workers": workers,
        "seconds_per_run": seconds,
        "repeats": repeats,
        "load": [asdict(r) for r in results],
        **more,
    }


def _batch(url: str, key: str, records: list[dict], repeats: int) -> dict:
    body = json.dumps({"records": records}, default=str)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    times = []
    for _ in range(repeats + 1):  # the first call warms up
        started = time.perf_counter()
        response = httpx.post(f"{url}/v1/score", content=body, headers=headers, timeout=600)
        response.raise_for_status()
        times.append(time.perf_counter() - started)
    median = statistics.median(times[1:])
    return {
        "records": len(records),
        "seconds_median": round(median, 3),
        "records_per_s": round(len(records) / median),
        "seconds": [round(t, 3) for t in times[1:]],
    }


def markdown(result: dict) -> str:
    ceiling = {r["concurrency"]: r["rps"] for r in result["load"] if r["scenario"] == HEALTH}
    lines = [
        f"HTTP: `sara serve --workers {result['workers']}` on {result['students']:,} students; "
        f"wrk (1 thread) on the same machine; median of {result['repeats']} runs of "
        f"{result['seconds_per_run']:g} s.",
        "",
        "| route | concurrency | req/s | vs /health | p50 ms | p99 ms | requests | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["load"]:
        share = r["rps"] / ceiling[r["concurrency"]] if ceiling.get(r["concurrency"]) else 0
        lines.append(
            f"| {r['scenario']} | {r['concurrency']} | {r['rps']:,.0f} | {share:.2f} | "
            f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['requests']:,} | {r['errors']} |"
        )
    b = result["batch"]
    lines += [
        "",
        f"Batch `POST /v1/score` of {b['records']:,} records (JSON in and out, end to end): "
        f"median {b['seconds_median']} s, **{b['records_per_s']:,} records/s**.",
    ]
    return "\n".join(lines) + "\n"
