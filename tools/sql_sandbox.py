"""Free SQL in a process that can be capped and killed: a small pool of sandbox processes, each
a Python interpreter running this file as a script, with an address-space limit (RLIMIT_AS) on
the whole process, set by the server as it starts the process, and a hard kill (SIGKILL) at the
query's timeout. DuckDB's own memory limit
covers only its buffer-managed memory and its interrupt is only checked between steps, so one
huge value (a string repeated into gigabytes, a list of a billion numbers, a recursive CTE
doubling a string) could otherwise outgrow the server and outlive its timeout; here the
allocation fails inside the sandbox or the sandbox is killed, and the server is untouched.

Limits (module constants, the same for every sandbox):

- ``MEMORY_LIMIT_MB``: the address space of one sandbox process (Python, DuckDB and the query
  together); DuckDB's own ``memory_limit`` is half of it, so most runaway operators fail with
  DuckDB's error before the process limit is reached.
- ``POOL_SIZE``: sandboxes per server process, hence at most that many free queries at once
  (a query waits for a free one within its own timeout) and at most
  ``POOL_SIZE × MEMORY_LIMIT_MB`` of memory for free SQL per server worker.
- The result is bounded twice: the sandbox stops fetching once the rows pass ``max_chars``
  characters, and the server reads no reply longer than ``reply_limit(max_chars)`` bytes.

Each sandbox serves one query at a time and is reused until it is killed (timeout), runs out
of memory (it then exits by itself) or dies; a fresh one is started in its place at once. A
sandbox attaches the warehouse read-only to an in-memory DuckDB, turns external access off and
locks the configuration, so it can read no file, write nothing and change no setting; it reopens
the warehouse when the file was replaced by a publish. It exits when the server closes its
stdin (the server stopped), and a CPU-time limit set for each query ends it should the server
die before killing it.

As a script this file imports only the standard library and duckdb (``python -I``: no
environment variables, no user site, not the repository's packages), so a sandbox starts in a
fraction of a second and spends its memory on queries. Messages both ways are one JSON
document each, preceded by its length (8 bytes, big-endian)."""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import decimal
import json
import logging
import math
import os
import resource
import selectors
import signal
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import duckdb

log = logging.getLogger(__name__)

MEMORY_LIMIT_MB = 2048
POOL_SIZE = 2
THREADS = 2
FETCH_CHUNK = 256
START_TIMEOUT_S = 60.0  # a sandbox process is up and has imported DuckDB (busy machine: seconds)
CPU_GRACE_S = 10.0  # CPU seconds past threads × timeout before a sandbox ends itself
HEADER = struct.Struct(">Q")
MB = 1024 * 1024
SCRIPT = Path(__file__).resolve()


def sandbox_config(memory_mb: int = MEMORY_LIMIT_MB) -> dict[str, Any]:
    """DuckDB's settings in a sandbox: a runaway join or aggregate fails with DuckDB's
    out-of-memory error below the process limit, and never spills to disk."""
    return {
        "threads": THREADS,
        "memory_limit": f"{memory_mb // 2}MB",
        "temp_directory": "",
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_community_extensions": False,
    }


def open_sandbox(path: Path | str, memory_mb: int = MEMORY_LIMIT_MB) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB with the warehouse attached read-only as its default database,
    then external access turned off and the configuration locked: no file read or written,
    no extension installed or loaded, no setting changed back, whatever the query says."""
    con = duckdb.connect(":memory:", config=sandbox_config(memory_mb))
    try:
        quoted = str(path).replace("'", "''")
        con.execute(f"ATTACH '{quoted}' AS warehouse (READ_ONLY)")
        con.execute("USE warehouse")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def json_safe(value: Any) -> Any:
    """``value`` as JSON can carry it: NaN and infinities become null, decimals floats, times
    ISO 8601 text, durations seconds, bytes hex, anything else its text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return json_safe(float(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [json_safe(v) for v in value]
    return str(value)


def _size(value: Any) -> int:
    """About how many characters ``value`` takes in a JSON answer."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(_size(k) + _size(v) for k, v in value.items())
    if isinstance(value, list):
        return sum(_size(v) for v in value) + 2
    return 8


def reply_limit(max_chars: int) -> int:
    """The most bytes a reply of rows within ``max_chars`` characters can take as JSON (a
    control character is escaped in six bytes), plus room for the envelope."""
    return 6 * max_chars + MB


# --- what the server sees ------------------------------------------------------------------


class SandboxError(Exception):
    """A free query that did not give rows; the message is for people."""


class QueryTimedOut(SandboxError):
    """The query ran past its timeout and was killed, or (``waited``) no sandbox was free."""

    def __init__(self, timeout_s: float, waited: bool = False):
        self.timeout_s, self.waited = timeout_s, waited
        where = " waiting for a free sandbox" if waited else ""
        super().__init__(f"the query exceeded {timeout_s:g} s{where}")


class QueryOutOfMemory(SandboxError):
    """The query ran out of memory; ``exit_code`` is set when the sandbox process ended without
    saying so (an allocation failed where nothing could catch it)."""

    def __init__(self, memory_mb: int, exit_code: int | None = None):
        self.memory_mb, self.exit_code = memory_mb, exit_code
        super().__init__(f"the query exceeded the memory limit of {memory_mb:,} MB")


class ResultTooLarge(SandboxError):
    def __init__(self, max_chars: int):
        self.max_chars = max_chars
        super().__init__(f"the result is larger than {max_chars:,} characters")


class QueryFailed(SandboxError):
    """DuckDB refused or failed the query (a binder error, a bad cast, a permission error)."""


class WarehouseUnavailable(SandboxError):
    """The sandbox cannot open the warehouse (missing, locked by a writer, damaged)."""


class SandboxUnavailable(SandboxError):
    """No sandbox process could be started."""


@dataclass(frozen=True)
class Result:
    columns: list[str]
    rows: list[list[Any]]  # JSON-safe values
    built_at: str | None  # the build time in the meta table of the file the query read


class _Deadline(Exception):
    pass


class _Gone(Exception):
    pass


class _Oversized(Exception):
    pass


class Sandbox:
    """One sandbox process, started at once; it says it is ready once DuckDB is imported."""

    def __init__(self, memory_mb: int = MEMORY_LIMIT_MB):
        self.memory_mb = memory_mb
        # glibc reserves address space per thread arena; two arenas leave the limit to queries.
        env = {**os.environ, "MALLOC_ARENA_MAX": "2"}
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", str(SCRIPT), str(memory_mb)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                bufsize=0,
                env=env,
                close_fds=True,
            )
        except OSError as exc:
            raise SandboxUnavailable(f"cannot start a SQL sandbox process ({exc})") from None
        # Limited from here at once, not only once the process limits itself.
        limit = memory_mb * MB
        with contextlib.suppress(ProcessLookupError):  # it died already: ask() says so
            resource.prlimit(self.process.pid, resource.RLIMIT_AS, (limit, limit))
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.process.stdout, selectors.EVENT_READ)
        self.ready = False

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def started_up(self) -> bool:
        """Whether the process has said it is ready (reading what it said, if it has)."""
        if not self.ready and self._selector.select(0):
            with contextlib.suppress(_Deadline, _Gone):
                self.ready = "ready" in self._receive(time.monotonic() + START_TIMEOUT_S, MB)
        return self.ready

    def ask(self, request: dict[str, Any], deadline: float, limit: int) -> dict[str, Any]:
        """Send one request and wait for its reply until ``deadline`` (monotonic seconds).
        Raises _Deadline, _Gone (the process died), _Oversized (a reply over ``limit``) or
        SandboxUnavailable (the process never said it was ready)."""
        if not self.ready:
            with contextlib.suppress(_Deadline, _Gone):
                self.ready = "ready" in self._receive(time.monotonic() + START_TIMEOUT_S, MB)
            if not self.ready:
                raise SandboxUnavailable("a SQL sandbox process did not start")
        body = json.dumps(request).encode()
        data = memoryview(HEADER.pack(len(body)) + body)
        try:
            while data:  # a write to a pipe may take only part of it
                data = data[self.process.stdin.write(data) :]
        except (BrokenPipeError, ValueError):
            raise _Gone from None
        return self._receive(deadline, limit)

    def _receive(self, deadline: float, limit: int) -> dict[str, Any]:
        (size,) = HEADER.unpack(self._read(HEADER.size, deadline))
        if size > limit:
            raise _Oversized
        try:
            return json.loads(self._read(size, deadline))
        except ValueError:  # a reply cut short when the process failed while writing it
            raise _Gone from None

    def _read(self, n: int, deadline: float) -> bytes:
        fd = self.process.stdout.fileno()
        buffer = bytearray()
        while len(buffer) < n:
            left = deadline - time.monotonic()
            if left <= 0 or not self._selector.select(left):
                raise _Deadline
            chunk = os.read(fd, min(n - len(buffer), MB))
            if not chunk:
                raise _Gone
            buffer += chunk
        return bytes(buffer)

    def kill(self) -> int:
        """SIGKILL the process (if it still runs), reap it and close its pipes; its exit code."""
        if self.process.poll() is None:
            self.process.kill()
        code = self.process.wait()
        self._selector.close()
        for pipe in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError):
                pipe.close()
        return code


class SandboxPool:
    """``size`` sandbox processes, started when the pool is made and reused; at most ``size``
    queries run at once."""

    def __init__(self, size: int = POOL_SIZE, memory_mb: int = MEMORY_LIMIT_MB):
        self.size, self.memory_mb = size, memory_mb
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._idle: list[Sandbox] = []
        self._busy: set[Sandbox] = set()
        self.started = 0  # sandboxes started in this pool's life (replacements included)
        for _ in range(size):
            self._idle.append(self._start())

    def _start(self) -> Sandbox:
        box = Sandbox(self.memory_mb)
        self.started += 1
        return box

    def pids(self) -> list[int]:
        with self._lock:
            return [box.pid for box in [*self._idle, *self._busy]]

    def run(self, path: Path, sql: str, timeout_s: float, max_chars: int) -> Result:
        """The rows of ``sql`` (already checked) on the warehouse at ``path``, or a
        ``SandboxError`` saying why not. ``timeout_s`` covers waiting for a free sandbox too."""
        deadline = time.monotonic() + timeout_s
        if not self._slots.acquire(timeout=timeout_s):
            raise QueryTimedOut(timeout_s, waited=True)
        try:
            request = {
                "path": str(path),
                "sql": sql,
                "max_chars": max_chars,
                "cpu_s": timeout_s * THREADS + CPU_GRACE_S,
            }
            reply = self._ask(request, deadline, timeout_s, reply_limit(max_chars))
        finally:
            self._slots.release()
        return _result(reply, max_chars, self.memory_mb)

    def _ask(self, request: dict, deadline: float, timeout_s: float, limit: int) -> dict:
        box = self._take()
        try:
            reply = box.ask(request, deadline, limit)
        except _Deadline:
            self._retire(box)
            raise QueryTimedOut(timeout_s) from None
        except _Oversized:
            self._retire(box)
            raise ResultTooLarge(request["max_chars"]) from None
        except _Gone:
            code = self._retire(box)
            if code == -signal.SIGXCPU:
                raise QueryTimedOut(timeout_s) from None
            # Under the address-space limit a process dies unasked when an allocation fails
            # where nothing catches it (a DuckDB worker thread, the interpreter itself).
            log.warning("a SQL sandbox process ended during a query (exit code %s)", code)
            raise QueryOutOfMemory(self.memory_mb, exit_code=code) from None
        except BaseException:
            self._retire(box)
            raise
        if reply.get("error") == "memory":
            self._retire(box)  # it exits after running out of memory; never reused
        else:
            self._give_back(box)
        return reply

    def _take(self) -> Sandbox:
        """An idle sandbox: the one used last among those ready (its DuckDB is warm), else the
        one started first; a new one when none is left."""
        with self._lock:
            for box in [b for b in self._idle if not b.alive()]:
                self._idle.remove(box)
                box.kill()
            ready = [b for b in self._idle if b.started_up()]
            box = ready[-1] if ready else self._idle[0] if self._idle else self._start()
            if box in self._idle:
                self._idle.remove(box)
            self._busy.add(box)
            return box

    def _give_back(self, box: Sandbox) -> None:
        with self._lock:
            self._busy.discard(box)
            self._idle.append(box)

    def _retire(self, box: Sandbox) -> int:
        """Kill ``box`` and start its replacement now, so the next query finds it ready."""
        code = box.kill()
        with self._lock:
            self._busy.discard(box)
            # Should none start now, the next query starts one (and reports why not).
            with contextlib.suppress(SandboxUnavailable):
                self._idle.append(self._start())
        return code

    def close(self) -> None:
        with self._lock:
            boxes = [*self._idle, *self._busy]
            self._idle, self._busy = [], set()
        for box in boxes:
            box.kill()


def _result(reply: dict[str, Any], max_chars: int, memory_mb: int) -> Result:
    error = reply.get("error")
    if error is None:
        return Result(reply["columns"], reply["rows"], reply.get("built_at"))
    message = reply.get("message", "")
    if error == "memory":
        raise QueryOutOfMemory(memory_mb)
    if error == "too_large":
        raise ResultTooLarge(max_chars)
    if error == "unavailable":
        raise WarehouseUnavailable(message)
    raise QueryFailed(message)


_pool: SandboxPool | None = None
_pool_pid = 0
_pool_lock = threading.Lock()


def pool() -> SandboxPool:
    """This process's pool, started on first use (a forked child starts its own)."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool, _pool_pid = SandboxPool(), os.getpid()
            atexit.register(_close_pool)
        return _pool


def _close_pool() -> None:
    if _pool is not None and _pool_pid == os.getpid():
        _pool.close()


def run(path: Path, sql: str, timeout_s: float, max_chars: int) -> Result:
    """Run ``sql`` (already checked) in a sandbox of this process's pool."""
    return pool().run(path, sql, timeout_s, max_chars)


# --- the sandbox process -------------------------------------------------------------------


class _TooLarge(Exception):
    pass


def _fetch(cursor: duckdb.DuckDBPyConnection, max_chars: int) -> list[list[Any]]:
    """Every row, JSON-safe, in chunks, refusing a result above ``max_chars`` characters."""
    rows: list[list[Any]] = []
    chars = 0
    while chunk := cursor.fetchmany(FETCH_CHUNK):
        for row in chunk:
            safe = [json_safe(v) for v in row]
            chars += sum(_size(v) for v in safe)
            if chars > max_chars:
                raise _TooLarge
            rows.append(safe)
    return rows


class _Warehouse:
    """The sandbox's connection, reopened when the file at the path is another one."""

    def __init__(self, memory_mb: int):
        self.memory_mb = memory_mb
        self.con: duckdb.DuckDBPyConnection | None = None
        self.key: tuple | None = None
        self.built_at: str | None = None

    def connection(self, path: str) -> duckdb.DuckDBPyConnection:
        stat = os.stat(path)
        key = (path, stat.st_dev, stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if self.con is None or key != self.key:
            if self.con is not None:
                self.con.close()
                self.con = None
            self.con, self.key = open_sandbox(path, self.memory_mb), key
            found = self.con.execute("SELECT value FROM meta WHERE key = 'built_at'").fetchone()
            self.built_at = str(found[0]) if found else None
        return self.con


def _answer(warehouse: _Warehouse, request: dict[str, Any]) -> dict[str, Any]:
    try:
        con = warehouse.connection(request["path"])
    except (OSError, duckdb.Error) as exc:
        return {"error": "unavailable", "message": str(exc).splitlines()[0]}
    try:
        cursor = con.execute(request["sql"])
        columns = [d[0] for d in cursor.description]
        rows = _fetch(cursor, request["max_chars"])
    except (MemoryError, duckdb.OutOfMemoryException):
        return {"error": "memory"}
    except _TooLarge:
        return {"error": "too_large"}
    except Exception as exc:  # DuckDB's message (a binder error, a bad cast) goes back
        return {"error": "failed", "message": (str(exc).splitlines() or [repr(exc)])[0]}
    return {"columns": columns, "rows": rows, "built_at": warehouse.built_at}


def _read_message(stream: BinaryIO) -> dict[str, Any] | None:
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None  # the server closed the pipe: it stopped
    (size,) = HEADER.unpack(header)
    return json.loads(stream.read(size))


def _write_message(stream: BinaryIO, message: dict[str, Any]) -> None:
    # UTF-8, with a lone surrogate (not UTF-8) written as the JSON escape that reads it back.
    data = json.dumps(message, ensure_ascii=False, allow_nan=False)
    data = data.encode("utf-8", "backslashreplace")
    stream.write(HEADER.pack(len(data)) + data)
    stream.flush()


def _limit_cpu(seconds: float) -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(used + seconds) + 1
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def serve(memory_mb: int) -> None:
    """The sandbox process: limit itself, then answer requests on stdin until it closes."""
    limit = memory_mb * MB
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C stops the server, not us
    # Replies go to a private copy of stdout; anything else printed goes to stderr.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    requests = sys.stdin.buffer
    duckdb.connect(":memory:").close()  # DuckDB's one-off start-up, paid before saying ready
    _write_message(replies, {"ready": os.getpid()})
    warehouse = _Warehouse(memory_mb)
    while (request := _read_message(requests)) is not None:
        _limit_cpu(request["cpu_s"])
        try:
            reply = _answer(warehouse, request)
        except MemoryError:
            reply = {"error": "memory"}
        try:
            _write_message(replies, reply)
        except BrokenPipeError:
            return
        except MemoryError:
            _write_message(replies, {"error": "memory"})
            return
        except Exception as exc:  # a value JSON cannot write (nested too deeply)
            _write_message(replies, {"error": "failed", "message": f"cannot send it ({exc})"})
        if reply.get("error") == "memory":
            return  # a process that ran out of memory is not trusted with the next query


if __name__ == "__main__":
    serve(int(sys.argv[1]))
