"""Free SQL cannot outgrow the server or outlive its timeout. Queries that build one huge value
(a string repeated into gigabytes, lists of hundreds of millions of numbers, a recursive CTE
doubling a string, an aggregate of megabyte strings) or run for ever are sent to a real
`sara serve` while the worker's memory is sampled: each ends in a 4xx naming the time or memory
limit, the worker stays within a bound of where it started, the sandbox process that ran the
query is gone (killed or ended, never left running), and the server answers the next request.
Beside them, the sandbox pool's own guarantees: every sandbox has the address-space limit, a
reply above the size limit is refused by the server side, a sandbox killed from outside is
replaced, and a republished warehouse is read anew."""

from __future__ import annotations

import os
import shutil
import signal
import threading

import duckdb
import httpx
import psutil
import pytest

from tests.integration.conftest import auth, sara_serve
from tests.timeouts import HTTP_TIMEOUT_S, STOP_TIMEOUT_S
from tools import sql_sandbox
from tools.errors import InvalidInput
from tools.sql_guard import SqlInput, run_sql

pytestmark = pytest.mark.integration

MB = 1024 * 1024
# The worker may grow this much while it serves the attacks (it only ever reads bounded
# replies); the queries themselves would take gigabytes.
WORKER_GROWTH_BOUND = 300 * MB
SAMPLE_EVERY_S = 0.02
TIME_LIMIT = "exceeded {} s"
MEMORY_LIMIT = "exceeded the memory limit of"
TOO_LARGE = "larger than"
# (query, timeout_s, the refusals it may get): which of time and memory runs out first depends
# on how busy the machine is, except where one is certain.
ATTACKS = [
    ("SELECT length(repeat(repeat('x', 100000000), 40))", 10, (TIME_LIMIT, MEMORY_LIMIT)),
    ("SELECT repeat('x', 1000000000)", 10, (TIME_LIMIT, MEMORY_LIMIT, TOO_LARGE)),
    ("SELECT repeat('x', 3000000000)", 10, (MEMORY_LIMIT,)),  # above the limit at once
    ("SELECT list_sum(range(1000000000))", 10, (MEMORY_LIMIT,)),  # 8 GB at once
    ("SELECT len(list_value(range(100000000), range(100000000), range(100000000)))", 10,
     (TIME_LIMIT, MEMORY_LIMIT)),
    ("SELECT len(flatten([range(100000000) for x in range(30)]))", 10,
     (TIME_LIMIT, MEMORY_LIMIT)),
    ("WITH RECURSIVE r(n, s) AS (SELECT 1, 'x' UNION ALL SELECT n + 1, s || s FROM r "
     "WHERE n < 40) SELECT max(length(s)) FROM r", 10, (TIME_LIMIT, MEMORY_LIMIT)),
    ("SELECT length(string_agg(repeat('x', 1000000), '')) FROM students", 10,
     (TIME_LIMIT, MEMORY_LIMIT)),
    ("SELECT count(*) FROM contributions a, contributions b, contributions c", 2, (TIME_LIMIT,)),
]  # fmt: skip
TRIVIAL = {"sql": "SELECT count(*) FROM students"}


class Sampler:
    """The highest RSS of a process, and of each of its children (the SQL sandboxes), seen
    while it runs."""

    def __init__(self, process: psutil.Process):
        self.process = process
        self.worker = 0
        self.sandboxes: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            self.sample()

    def sample(self) -> None:
        self.worker = max(self.worker, self.process.memory_info().rss)
        for child in self.process.children():
            try:
                rss = child.memory_info().rss
            except psutil.NoSuchProcess:
                continue
            self.sandboxes[child.pid] = max(self.sandboxes.get(child.pid, 0), rss)


def sandbox_pids(worker: psutil.Process) -> set[int]:
    return {child.pid for child in worker.children()}


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_huge_values_and_endless_queries_leave_the_server_as_it_was(published, role_keys):
    headers = auth(role_keys["analyst"])
    with (
        sara_serve(published) as served,
        httpx.Client(base_url=served.base, headers=headers, timeout=HTTP_TIMEOUT_S) as client,
    ):
        # One worker: the served process is the worker; its children are the SQL sandboxes.
        worker = psutil.Process(served.process.pid)
        warm = client.post("/v1/tools/run_sql", json=TRIVIAL)
        assert warm.status_code == 200 and warm.json()["rows"] == [[3000]], warm.text
        start = worker.memory_info().rss
        limit = sql_sandbox.MEMORY_LIMIT_MB * MB
        for pid in sandbox_pids(worker):
            assert psutil.Process(pid).rlimit(psutil.RLIMIT_AS) == (limit, limit)
        report, refusals = [], set()
        for sql, timeout_s, allowed in ATTACKS:
            with Sampler(worker) as sampler:
                response = client.post(
                    "/v1/tools/run_sql", json={"sql": sql, "timeout_s": timeout_s}
                )
            assert 400 <= response.status_code < 500, (sql, response.status_code, response.text)
            error = response.json()["error"]
            assert error["code"] == "invalid_input" and error["field"] in ("sql", "timeout_s")
            expected = [text.format(timeout_s) for text in allowed]
            assert any(text in error["message"] for text in expected), (sql, error)
            refusals |= {text for text in allowed if text.format(timeout_s) in error["message"]}
            assert sampler.worker < start + WORKER_GROWTH_BOUND, (sql, sampler.worker, start)
            assert all(rss <= limit for rss in sampler.sandboxes.values()), sampler.sandboxes
            # The sandbox that ran it was killed or ended: nothing keeps running the query.
            ended = set(sampler.sandboxes) - sandbox_pids(worker)
            if TOO_LARGE not in error["message"]:
                assert ended and all(gone(pid) for pid in ended), (sql, sampler.sandboxes)
            after = client.post("/v1/tools/run_sql", json=TRIVIAL)
            assert after.status_code == 200 and after.json()["rows"] == [[3000]], after.text
            assert len(sandbox_pids(worker)) <= sql_sandbox.POOL_SIZE
            report.append(
                f"  {sql[:60]:60} -> {response.status_code} worker +"
                f"{max(0, sampler.worker - start) // MB} MB, sandbox peak "
                f"{max(sampler.sandboxes.values(), default=0) // MB} MB: {error['message'][:40]}"
            )
        assert client.get("/health").status_code == 200
        sandboxes = [psutil.Process(pid) for pid in sandbox_pids(worker)]
    # The server stopped: its sandboxes went with it.
    _, alive = psutil.wait_procs(sandboxes, timeout=STOP_TIMEOUT_S)
    assert not alive, alive
    assert {TIME_LIMIT, MEMORY_LIMIT} <= refusals, refusals
    print(f"\nworker RSS at start {start // MB} MB\n" + "\n".join(report))


def test_every_sandbox_is_capped_and_one_killed_from_outside_is_replaced(ctx):
    pool = sql_sandbox.pool()
    assert run_sql(SqlInput(**TRIVIAL), ctx).rows == [[3000]]
    limit = sql_sandbox.MEMORY_LIMIT_MB * MB
    pids = pool.pids()
    assert len(pids) == sql_sandbox.POOL_SIZE
    for pid in pids:
        assert psutil.Process(pid).rlimit(psutil.RLIMIT_AS) == (limit, limit)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    for pid in pids:
        psutil.Process(pid).wait()
    assert run_sql(SqlInput(**TRIVIAL), ctx).rows == [[3000]]
    assert not set(pool.pids()) & set(pids)


def test_a_reply_above_the_size_limit_is_refused_by_the_server_side(ctx, monkeypatch):
    """Even a sandbox that sent more than it may is not read past the limit."""
    pool = sql_sandbox.pool()
    monkeypatch.setattr(sql_sandbox, "reply_limit", lambda max_chars: 1000)
    started = pool.started
    with pytest.raises(InvalidInput, match="larger than"):
        run_sql(SqlInput(sql="SELECT repeat('x', 5000) AS x"), ctx)
    assert pool.started == started + 1  # the sandbox was replaced, its reply unread
    monkeypatch.undo()
    assert run_sql(SqlInput(sql="SELECT repeat('x', 5000) AS x"), ctx).rows == [["x" * 5000]]


def test_a_republished_warehouse_is_read_anew(ctx, tmp_path):
    path = tmp_path / "warehouse.duckdb"
    shutil.copyfile(ctx.settings.warehouse_path, path)
    pool = sql_sandbox.SandboxPool(size=1)
    try:
        first = pool.run(path, "SELECT count(*) FROM scores", 60, 1000)
        assert first.rows == [[3000]] and first.built_at == ctx.data_timestamp
        staging = tmp_path / "staging.duckdb"
        shutil.copyfile(path, staging)
        with duckdb.connect(str(staging)) as con:
            con.execute("DELETE FROM scores WHERE risk_score < 0.5")
            con.execute("UPDATE meta SET value = 'later' WHERE key = 'built_at'")
        staging.replace(path)
        second = pool.run(path, "SELECT count(*) FROM scores", 60, 1000)
        assert second.rows[0][0] < 3000 and second.built_at == "later"
    finally:
        pids = pool.pids()
        pool.close()
    assert pids and all(gone(pid) for pid in pids)


def test_a_sandbox_that_does_not_answer_in_time_is_killed(ctx):
    pool = sql_sandbox.SandboxPool(size=1)
    try:
        (pid,) = pool.pids()
        pool.run(ctx.settings.warehouse_path, "SELECT 1", 60, 1000)  # started and ready
        with pytest.raises(sql_sandbox.QueryTimedOut):
            pool.run(
                ctx.settings.warehouse_path,
                "SELECT count(*) FROM contributions a, contributions b, contributions c",
                1,
                1000,
            )
        assert gone(pid) and len(pool.pids()) == 1 and pool.pids() != [pid]
    finally:
        pool.close()
