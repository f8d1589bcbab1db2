"""Hostile requests: bodies far over the size limit, sent without a key or with one, to a real
`sara serve --workers 2` (it keeps answering /health, no worker is respawned, each request gets
401 or 413 in the error shape); and every kind of unusable input (non-finite numbers, lone
surrogates, NUL characters, over-long names, deep nesting, huge integers) on every route it
reaches gets a 422 naming the field, never a 500, with the connection kept alive and nothing
the client sent in the server's log."""

from __future__ import annotations

import http.client
import json
import math
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import psutil
import pytest

from tests.integration.conftest import auth, sara_serve
from tests.timeouts import HTTP_TIMEOUT_S

pytestmark = pytest.mark.integration

MIB = 2**20
ERROR_KEYS = {"code", "message", "field", "value"}
# Words planted in requests that must never reach the server's log.
PLANTED = "zebra-quokka-417"
PLANTED_ID = 738291046


def _json(value) -> str:
    """JSON as a careless or hostile client writes it: lone surrogates and NUL as ``\\u``
    escapes, NaN and infinities as the ``NaN``/``Infinity`` literals Python's parser takes."""
    return json.dumps(value)


def _strict(text: str):
    """Parse a response as strict JSON: a NaN or an infinity in it fails."""

    def refuse(literal):
        raise ValueError(f"{literal} in a response")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def columns(ctx):
    """A stored student's features, and one numeric and one categorical feature column."""
    spec, features = ctx.spec, list(ctx.model.features)
    record = ctx.sql("SELECT * FROM students LIMIT 1")[features].to_dict("records")[0]
    record = {k: (v.item() if hasattr(v, "item") else v) for k, v in record.items()}
    numeric = next(f for f in features if spec.column(f).dtype == "float")
    category = next(f for f in features if spec.column(f).categories)
    return record, numeric, category, ctx.id_column


def unusable_inputs(columns) -> dict[str, tuple[str, str, str | None, str, str]]:
    """Every input class on every route it reaches: name → (method, path, JSON text, role,
    the field the 422 must name)."""
    record, num, cat, _ = columns
    huge, deep = "9" * 5000, "[" * 100_000 + "]" * 100_000

    def score(changes: dict) -> str:
        return _json({"records": [{**record, **changes}]})

    def equity(filters: dict) -> str:
        return _json({"metric": "outcome_rate", "filters": filters})

    return {
        "score-nan": ("POST", "/v1/score", score({num: math.nan}), "staff", f"records.0.{num}"),
        "score-infinity": (
            "POST", "/v1/score", score({num: math.inf}), "staff", f"records.0.{num}"),
        "score-minus-infinity": (
            "POST", "/v1/score", score({num: -math.inf}), "staff", f"records.0.{num}"),
        "score-1e400": (
            "POST", "/v1/score", score({num: 1.5}).replace("1.5", "1e400"), "staff",
            f"records.0.{num}"),
        "score-surrogate-value": (
            "POST", "/v1/score", score({cat: "\ud800"}), "staff", f"records.0.{cat}"),
        "score-surrogate-key": (
            "POST", "/v1/score", score({"\udc80": 1}), "staff", "records.0.\\udc80"),
        "score-nul-value": (
            "POST", "/v1/score", score({cat: "a\x00"}), "staff", f"records.0.{cat}"),
        "score-surrogate-id": (
            "POST", "/v1/score", _json({"student_ids": ["S\udbff"]}), "staff", "student_ids.0"),
        "score-5000-digit-integer": (
            "POST", "/v1/score", f'{{"records": [{{"{num}": {huge}}}]}}', "staff", "body"),
        "score-deep-json": ("POST", "/v1/score", f'{{"records": {deep}}}', "staff", "body"),
        "explain-surrogate-id": (
            "POST", "/v1/tools/explain_student", _json({"student_id": "\ud800"}), "staff",
            "student_id"),
        "explain-nul-id": (
            "POST", "/v1/tools/explain_student", _json({"student_id": "S\x00"}), "staff",
            "student_id"),
        "explain-nan-record": (
            "POST", "/v1/tools/explain_student", _json({"record": {**record, num: math.nan}}),
            "staff", f"record.{num}"),
        "students-nul-id": ("GET", "/v1/students/S%00/risk", None, "staff", "student_id"),
        "students-long-id": (
            "GET", f"/v1/students/{'S' * 5000}/explanation", None, "staff", "student_id"),
        "students-nul-filter": ("GET", f"/v1/students?{cat}=a%00", None, "staff", cat),
        "equity-surrogate-metric": (
            "POST", "/v1/equity/query", _json({"metric": "\ud800"}), "viewer", "metric"),
        "equity-surrogate-filter-key": (
            "POST", "/v1/equity/query", equity({"\ud800": "x"}), "viewer", "filters.\\ud800"),
        "equity-surrogate-filter-value": (
            "POST", "/v1/equity/query", equity({cat: ["\ud800"]}), "viewer", f"filters.{cat}.0"),
        "equity-nul-filter-value": (
            "POST", "/v1/equity/query", equity({cat: "\x00"}), "viewer", f"filters.{cat}"),
        "equity-infinite-filter": (
            "POST", "/v1/equity/query", equity({num: math.inf}), "viewer", f"filters.{num}"),
        "chat-surrogate-question": (
            "POST", "/v1/chat", _json({"question": "why \ud800"}), "staff", "question"),
        "chat-deep-json": ("POST", "/v1/chat", f'{{"question": {deep}}}', "staff", "body"),
        "chat-5000-digit-integer": ("POST", "/v1/chat", f'{{"question": {huge}}}', "staff", "body"),
        "sql-surrogate": (
            "POST", "/v1/tools/run_sql", _json({"sql": "SELECT '\ud800'"}), "analyst", "sql"),
        "sql-nul": ("POST", "/v1/tools/run_sql", _json({"sql": "SELECT '\x00'"}), "analyst", "sql"),
        "chart-long-name": ("GET", f"/v1/equity/charts/{'a' * 5000}.png", None, "viewer", "name"),
        "chart-nul-name": ("GET", "/v1/equity/charts/a%00.png", None, "viewer", "name"),
        "plan-nan-budget": (
            "POST", "/v1/interventions/plan", _json({"budget": math.nan}), "analyst", "budget"),
        "plan-infinite-budget": (
            "POST", "/v1/interventions/plan", _json({"budget": math.inf}), "analyst", "budget"),
        "plan-1e400-budget": ("POST", "/v1/interventions/plan", '{"budget": 1e400}', "analyst",
                              "budget"),
    }  # fmt: skip


CASES = [
    "score-nan", "score-infinity", "score-minus-infinity", "score-1e400", "score-surrogate-value",
    "score-surrogate-key", "score-nul-value", "score-surrogate-id", "score-5000-digit-integer",
    "score-deep-json", "explain-surrogate-id", "explain-nul-id", "explain-nan-record",
    "students-nul-id", "students-long-id", "students-nul-filter", "equity-surrogate-metric",
    "equity-surrogate-filter-key", "equity-surrogate-filter-value", "equity-nul-filter-value",
    "equity-infinite-filter", "chat-surrogate-question", "chat-deep-json",
    "chat-5000-digit-integer", "sql-surrogate", "sql-nul", "chart-long-name", "chart-nul-name",
    "plan-nan-budget", "plan-infinite-budget", "plan-1e400-budget",
]  # fmt: skip


def assert_refused(status: int, text: str, field: str, expected: int = 422) -> dict:
    assert status == expected, text[:300]
    body = _strict(text)
    assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS, body
    error = body["error"]
    assert error["field"] == field and error["message"], error
    assert "Traceback" not in text
    json.dumps(error, allow_nan=False).encode("utf-8")  # serialisable as it came
    return error


def test_the_cases_cover_every_input_class(columns):
    assert sorted(CASES) == sorted(unusable_inputs(columns))


@pytest.mark.parametrize("case", CASES)
def test_an_unusable_input_is_a_422_naming_the_field(api, role_keys, columns, case):
    method, path, body, role, field = unusable_inputs(columns)[case]
    headers = {**auth(role_keys[role]), "Content-Type": "application/json"}
    response = api.request(method, path, content=body, headers=headers)
    error = assert_refused(response.status_code, response.text, field)
    assert error["code"] == "invalid_input"


def test_an_integer_id_in_a_record_is_scored_under_that_id(api, role_keys, columns):
    record, _, _, id_column = columns
    response = api.post(
        "/v1/score",
        json={"records": [{**record, id_column: PLANTED_ID}]},
        headers=auth(role_keys["staff"]),
    )
    assert response.status_code == 200, response.text[:300]
    assert response.json()["students"][0]["student_id"] == str(PLANTED_ID)


# --- a real server ----------------------------------------------------------------------------


def worker_pids(server) -> set[int]:
    """uvicorn's worker processes: the server's children started by multiprocessing (not the
    helper processes a worker may start and end, e.g. SQL sandboxes)."""
    workers = set()
    for child in psutil.Process(server.process.pid).children():
        try:
            if any("spawn_main" in part for part in child.cmdline()):
                workers.add(child.pid)
        except psutil.NoSuchProcess:
            continue
    return workers


class HealthPoller:
    """Polls /health on fresh connections from a thread (so both workers are asked) until
    stopped; every poll must be answered."""

    def __init__(self, base: str):
        self.base, self.answered, self.failures = base, 0, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                response = httpx.get(f"{self.base}/health", timeout=HTTP_TIMEOUT_S)
                assert response.status_code == 200, response.text
                self.answered += 1
            except Exception as exc:  # every failure is reported by the test
                self.failures.append(repr(exc))
            self._stop.wait(0.05)

    def __enter__(self) -> HealthPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=HTTP_TIMEOUT_S)


def megabytes(count: int) -> Iterator[bytes]:
    """``count`` MiB of a JSON body that never closes (one chunk reused)."""
    chunk = b"[" + b'{"k": 1},' * (MIB // 9)
    for _ in range(count):
        yield chunk[:MIB]


def post_raw(base: str, path: str, headers: dict[str, str], chunks: Iterator[bytes],
             *, chunked: bool, ignore_answer: bool = False) -> tuple[int, str]:  # fmt: skip
    """POST ``chunks`` over a raw socket, as a client that streams (``chunked``) or declares
    a Content-Length in ``headers``. Stops sending once the server has answered, unless
    ``ignore_answer`` (a hostile client sends everything). Returns (status, body)."""
    url = httpx.URL(base)
    with socket.create_connection((url.host, url.port), timeout=HTTP_TIMEOUT_S) as sock:
        head = [
            f"POST {path} HTTP/1.1",
            f"Host: {url.host}:{url.port}",
            "Content-Type: application/json",
            *(f"{k}: {v}" for k, v in headers.items()),
        ]
        if chunked:
            head.append("Transfer-Encoding: chunked")
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        for chunk in chunks:
            if not ignore_answer and _answered(sock):
                break
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk)
        else:
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        response = http.client.HTTPResponse(sock, method="POST")
        response.begin()
        return response.status, response.read().decode()


def _answered(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return bool(sock.recv(1, socket.MSG_PEEK))
    except BlockingIOError:
        return False
    finally:
        sock.setblocking(True)
        sock.settimeout(HTTP_TIMEOUT_S)


def test_hostile_bodies_get_401_or_413_and_the_workers_keep_answering(published, role_keys):
    staff = auth(role_keys["staff"])
    claim = {"Content-Length": str(1_000_000_000)}
    sends = {  # name → (path, headers, MiB to send, chunked, ignore the answer, status)
        "keyless 300 MB stream": ("/v1/score", {}, 300, True, True, 401),
        "keyless 300 MB stream to a tool": ("/v1/tools/score_students", {}, 300, True, True, 401),
        "keyless 1 GB claim": ("/v1/score", claim, 1, False, False, 401),
        "unknown key 1 GB claim": (
            "/v1/chat", {**claim, "X-API-Key": "sara_0000_nope"}, 1, False, False, 401),
        "keyless 1 GB claim to an open route": ("/health", claim, 1, False, False, 413),
        "staff 300 MB stream": ("/v1/score", staff, 300, True, False, 413),
        "staff 1 GB claim": ("/v1/score", {**staff, **claim}, 1, False, False, 413),
    }  # fmt: skip
    results: dict[str, tuple[int, str] | Exception] = {}

    def send(name: str) -> None:
        path, headers, size, chunked, ignore, _ = sends[name]
        try:
            results[name] = post_raw(server.base, path, headers, megabytes(size),
                                     chunked=chunked, ignore_answer=ignore)  # fmt: skip
        except Exception as exc:  # reported below
            results[name] = exc

    with sara_serve(published, workers=2) as server:
        workers = worker_pids(server)
        assert len(workers) == 2, workers
        with HealthPoller(server.base) as poller:
            threads = [threading.Thread(target=send, args=(name,)) for name in sends]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=10 * HTTP_TIMEOUT_S)
            time.sleep(0.5)  # a few polls after the last answer too
        after = worker_pids(server)
        still = httpx.get(f"{server.base}/v1/students/S0000042/risk", headers=staff,
                          timeout=HTTP_TIMEOUT_S)  # fmt: skip
    assert poller.failures == [] and poller.answered > 0, poller.failures
    assert after == workers, "a worker was replaced"
    assert still.status_code == 200
    for name, (*_, status) in sends.items():
        result = results[name]
        assert not isinstance(result, Exception), f"{name}: {result!r}"
        error = assert_refused(result[0], result[1], None if status == 401 else "body", status)
        assert error["code"] == ("unauthorized" if status == 401 else "too_large"), name
    assert "Traceback" not in server.output and "Exception in ASGI" not in server.output


def test_bad_inputs_keep_the_connection_and_stay_out_of_the_log(published, role_keys, columns):
    record, _, cat, id_column = columns
    cases = unusable_inputs(columns)
    sent = ["score-nan", "score-1e400", "score-surrogate-key", "explain-surrogate-id",
            "students-nul-id", "chart-long-name", "chart-nul-name", "score-deep-json",
            "score-5000-digit-integer", "plan-nan-budget"]  # fmt: skip
    planted = [  # values and questions no log line may quote
        ("POST", "/v1/score", _json({"records": [{**record, id_column: PLANTED_ID}]}), "staff"),
        ("POST", "/v1/score", _json({"records": [{**record, PLANTED: 1}]}), "staff"),
        ("POST", "/v1/score", _json({"records": [{**record, cat: PLANTED}]}), "staff"),
        ("POST", "/v1/chat", _json({"question": f"why is {PLANTED} at risk \ud800"}), "staff"),
        ("POST", "/v1/chat", _json({"question": f"why is {PLANTED} at risk?"}), "staff"),
        ("POST", "/v1/tools/run_sql", _json({"sql": f"SELECT '{PLANTED}' + 1"}), "analyst"),
    ]  # fmt: skip
    server_errors = 0
    with sara_serve(published, workers=1) as server:
        url = httpx.URL(server.base)
        connection = http.client.HTTPConnection(url.host, url.port, timeout=HTTP_TIMEOUT_S)
        connection.connect()
        first = connection.sock

        def ask(method: str, path: str, body: str | None, role: str):
            headers = {**auth(role_keys[role]), "Content-Type": "application/json"}
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode()
            assert not response.will_close and connection.sock is first, (path, text[:200])
            return response.status, text

        for name in sent:
            method, path, body, role, field = cases[name]
            status, text = ask(method, path, body, role)
            assert_refused(status, text, field)
        for method, path, body, role in planted:
            status, text = ask(method, path, body, role)
            assert status < 500 or "incident" in text, text[:300]
            server_errors += status == 500
        status, text = ask("GET", "/v1/students/S0000042/risk", None, "staff")
        assert status == 200, text[:300]
        connection.close()
    log = server.output
    assert PLANTED not in log and str(PLANTED_ID) not in log, log[-3000:]
    assert "Traceback" not in log and "Exception in ASGI" not in log, log[-3000:]
    assert log.count("unhandled ") == server_errors, log[-3000:]
