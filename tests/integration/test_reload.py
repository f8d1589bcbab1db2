"""`sara serve --workers 2` across a start on a fresh model cache and a republish: both workers
start together and save the model cache at once without either failing; a republished
warehouse loads in the background while the probes and the reads keep answering from the one
in service, and every worker then serves the new one; an identical file published again loads
nothing. Nothing here is timed: a load is held open by the test (see HOLD below) for as long as
it needs to look, and every wait is a generous bound, not a speed."""

from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest

from api.keys import KeyStore
from data.synthetic.cohort import write_cohort
from pipeline import warehouse
from pipeline.run import run_pipeline
from sara.settings import Settings
from tests.integration.conftest import auth, sara_serve
from tests.timeouts import HTTP_TIMEOUT_S, SERVER_START_TIMEOUT_S

pytestmark = pytest.mark.integration

# Run at start-up by every process of a server the test starts (a sitecustomize on its
# PYTHONPATH), with RELOAD_PROBE naming a folder: once the app imports the tools' context, each
# process notes its id in `reads` when it starts loading a warehouse (reading its build
# metadata) and in `contexts` when it makes a context; while the file `hold` is there, a load
# waits after its note, so it stays in progress until the test lets it go. Nothing is imported
# at start-up itself: uvicorn replaces a worker that does not answer its health check within
# seconds of starting.
PROBE = """
import importlib.abc, importlib.util, os, sys, time
probe = os.environ.get("RELOAD_PROBE")

def note(name):
    with open(os.path.join(probe, name), "a") as log:
        log.write(f"{os.getpid()}\\n")

def instrument(context):
    warehouse = sys.modules["pipeline.warehouse"]
    meta_of = warehouse.meta_of
    def held(con):
        note("reads")
        while os.path.exists(os.path.join(probe, "hold")):
            time.sleep(0.05)
        return meta_of(con)
    warehouse.meta_of = held
    made = context.ToolContext.__post_init__
    def counted(self):
        note("contexts")
        made(self)
    context.ToolContext.__post_init__ = counted

class Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "tools.context":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module
        def exec_module(module):
            run(module)
            instrument(module)
        spec.loader.exec_module = exec_module
        return spec

if probe:
    sys.meta_path.insert(0, Finder())
"""
SETTLED_POLLS = 20  # answers in a row from the new warehouse: every worker has switched


@dataclass
class Terms:
    """A published workspace, its warehouse file, and the warehouses of two terms built aside."""

    settings: Settings
    first: Path
    second: Path
    student: str
    key: str

    def publish(self, built: Path) -> dict[str, str]:
        """Put ``built`` in place as a publish does (a complete file renamed over the old one);
        its build metadata."""
        target = self.settings.warehouse_path
        incoming = target.with_name(f"{target.name}{warehouse.STAGING_INFIX}{os.getpid()}")
        shutil.copyfile(built, incoming)
        os.replace(incoming, target)
        return warehouse.read_meta(target)


@pytest.fixture(scope="module")
def terms(tmp_path_factory) -> Terms:
    root = tmp_path_factory.mktemp("reload")
    settings = Settings(home=root / "ws", candidates=("logreg",))
    run_pipeline(settings, generate=2000, progress=lambda _: None)
    first = root / "first-term.duckdb"
    shutil.copyfile(settings.warehouse_path, first)
    next_term = root / "next-term.parquet"
    write_cohort(next_term, 2000, 13, "realistic")  # not the workspace cohort (seed 7)
    run_pipeline(settings, data=next_term, progress=lambda _: None)
    second = root / "second-term.duckdb"
    shutil.copyfile(settings.warehouse_path, second)
    with warehouse.open_read_only(first) as con:
        student = con.execute("SELECT min(student_id) FROM scores").fetchone()[0]
    _, key = KeyStore(settings.keys_path).create("reload-staff", "staff")
    terms = Terms(Settings(home=settings.home), first, second, student, key)
    terms.publish(first)
    return terms


def workers_holding(server, path: Path) -> set[int]:
    """The server's processes that have the warehouse at ``path`` open (a loaded context)."""
    found = set()
    for child in psutil.Process(server.process.pid).children(recursive=True):
        try:
            if any(f.path == str(path) for f in child.open_files()):
                found.add(child.pid)
        except psutil.NoSuchProcess:
            continue
    return found


def workers(server) -> set[int]:
    """The server's worker processes (not the short-lived helpers a worker may start, such as
    the one MLflow runs while saving a model)."""
    found = set()
    for child in psutil.Process(server.process.pid).children():
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                found.add(child.pid)
        except psutil.NoSuchProcess:
            continue
    return found


def test_two_workers_on_a_fresh_model_cache_start_without_a_respawn(terms):
    settings = terms.settings
    cache = settings.home / "model-cache"
    shutil.rmtree(cache, ignore_errors=True)  # both workers find no copy and save one at once
    version = warehouse.read_meta(settings.warehouse_path)["model_version"]
    with sara_serve(settings, workers=2) as server:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while len(loaded := workers_holding(server, settings.warehouse_path)) < 2:
            assert time.monotonic() < deadline, f"workers with a context: {loaded}"
            time.sleep(0.3)
        started = workers(server)
        assert len(started) == 2, started
        for _ in range(10):
            ready = httpx.get(f"{server.base}/ready", timeout=HTTP_TIMEOUT_S)
            assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text
        assert workers(server) == started  # no worker died and was replaced
    assert server.process.returncode == 0, server.output
    for sign in ("Traceback", "already exists", "died", "failed to start", "not ready"):
        assert sign not in server.output, server.output
    assert [p.name for p in cache.iterdir()] == [f"{settings.model_name}-v{version}"]
    assert (cache / f"{settings.model_name}-v{version}" / "MLmodel").is_file()


@dataclass
class Poller:
    """Polls /health, /ready and a student's risk in a thread of its own until stopped,
    keeping every answer (or the error that stood for one)."""

    base: str
    terms: Terms
    answers: list[tuple[str, int, dict]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        risk = f"/v1/students/{self.terms.student}/risk"
        headers = auth(self.terms.key)
        # A connection per request: a kept-alive one would always reach the same worker.
        fresh = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=self.base, timeout=HTTP_TIMEOUT_S, limits=fresh) as client:
            while not self.stop.is_set():
                for route in ("/health", "/ready", risk):
                    try:
                        response = client.get(route, headers=headers)
                    except httpx.HTTPError as exc:
                        self.errors.append(f"{route}: {exc!r}")
                        continue
                    self.answers.append((route, response.status_code, response.json()))

    def ready(self) -> list[dict]:
        return [body for route, _, body in list(self.answers) if route == "/ready"]

    def wait_for(self, predicate, what: str) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while not predicate(self.ready()):
            assert time.monotonic() < deadline, f"{what}: not seen; last {self.ready()[-3:]}"
            assert not self.errors, self.errors
            time.sleep(0.05)


def settled(built_at: str):
    def check(ready: list[dict]) -> bool:
        last = ready[-SETTLED_POLLS:]
        return len(last) == SETTLED_POLLS and all(
            r["data_timestamp"] == built_at and not r["reloading"] for r in last
        )

    return check


class Probe:
    """The folder PROBE writes to: which worker processes started loads and made contexts."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.hold = folder / "hold"

    def pids(self, name: str) -> list[int]:
        path = self.folder / name
        return [int(line) for line in path.read_text().split()] if path.exists() else []

    def notes(self) -> dict[str, list[int]]:
        return {name: self.pids(name) for name in ("reads", "contexts")}

    def wait(self, predicate, what: str, poller: Poller) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while not predicate():
            assert time.monotonic() < deadline, f"{what}: not seen; {self.notes()}"
            assert not poller.errors, poller.errors
            time.sleep(0.05)


def test_a_republish_loads_in_the_background_while_everything_answers(terms, tmp_path, monkeypatch):
    first = terms.publish(terms.first)
    hooks, probe = tmp_path / "hooks", Probe(tmp_path / "probe")
    hooks.mkdir()
    probe.folder.mkdir()
    (hooks / "sitecustomize.py").write_text(PROBE)
    path = os.pathsep.join([str(hooks), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.setenv("RELOAD_PROBE", str(probe.folder))
    with sara_serve(terms.settings, workers=2) as server:
        poller = Poller(server.base, terms)
        thread = threading.Thread(target=poller.run, daemon=True)
        thread.start()
        try:
            probe.wait(lambda: len(set(probe.pids("contexts"))) == 2, "both workers", poller)
            workers = set(probe.pids("contexts"))
            poller.wait_for(settled(first["built_at"]), "the first term served")

            # The next term, its load held open in both workers until the test has looked.
            probe.hold.touch()
            reads = len(probe.pids("reads"))
            second = terms.publish(terms.second)
            assert second["built_at"] != first["built_at"]
            held_from = len(poller.answers)
            probe.wait(lambda: set(probe.pids("reads")[reads:]) == workers, "both loading", poller)
            poller.wait_for(
                lambda ready: sum(r["reloading"] for r in ready) >= SETTLED_POLLS,
                "answers while the reload is in progress",
            )
            during = poller.answers[held_from:]
            probe.hold.unlink()
            poller.wait_for(settled(second["built_at"]), "the second term served")
            probe.wait(lambda: len(probe.pids("contexts")) == 4, "the new contexts", poller)

            # The same file again (a new inode, the same content): read, and nothing loaded.
            reads = len(probe.pids("reads"))
            terms.publish(terms.second)
            probe.wait(lambda: set(probe.pids("reads")[reads:]) == workers, "both read", poller)
            answered = len(poller.answers)
            poller.wait_for(
                lambda ready: (
                    len(poller.answers) - answered > 3 * SETTLED_POLLS
                    and settled(second["built_at"])(ready)
                ),
                "the same publish served",
            )
            contexts = probe.pids("contexts")
        finally:
            probe.hold.unlink(missing_ok=True)
            poller.stop.set()
            thread.join(HTTP_TIMEOUT_S)
    assert not poller.errors, poller.errors
    failed = [answer for answer in poller.answers if answer[1] != 200]
    assert not failed, failed[:5]
    # While the new warehouse was loading, the probes and the reads answered from the old one.
    reloading = [body for route, _, body in during if route == "/ready" and body["reloading"]]
    assert reloading and all(r["data_timestamp"] == first["built_at"] for r in reloading)
    assert all(any("reloading" in reason for reason in r["reasons"]) for r in reloading)
    assert any(route == "/health" for route, _, _ in during)
    assert any(route.endswith("/risk") for route, _, _ in during)
    assert sorted(contexts) == sorted([*workers, *workers])  # one per term and worker
    last = poller.ready()[-1]
    assert last["model_version"] == second["model_version"]
    assert last["status"] == "ready" and last["reasons"] == []
    assert server.process.returncode == 0, server.output
    assert "Traceback" not in server.output, server.output
