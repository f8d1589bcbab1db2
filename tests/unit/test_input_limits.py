"""The input rules every tool gets at its boundary (text, numbers, how a refused value is shown
back), the edge middleware's body and key limits and the one-line log of an unexpected error,
on small in-process apps: no server, no workspace."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from starlette.responses import JSONResponse

from api import errors, limits
from api.deps import presented_key
from api.keys import KeyStore
from tools.base import ToolInput, number_problem, safe_value, text_problem
from tools.errors import InvalidInput

SURROGATE, NUL = "\ud800", "\x00"
CAP = 10_000


class Example(ToolInput):
    name: str | None = None
    ratio: float | None = None
    count: int | None = None
    records: list[dict[str, Any]] | None = None
    filters: dict[str, Any] | None = None


@pytest.mark.parametrize(
    ("payload", "field", "rule"),
    [
        ({"ratio": math.nan}, "ratio", "finite"),
        ({"ratio": math.inf}, "ratio", "finite"),
        ({"ratio": -math.inf}, "ratio", "finite"),
        ({"name": f"a{SURROGATE}"}, "name", "lone surrogate"),
        ({"name": f"a{NUL}b"}, "name", "NUL"),
        ({"count": 10**30}, "count", "64 bits"),
        ({"records": [{"x": 1}, {"x": math.nan}]}, "records.1.x", "finite"),
        ({"records": [{"x": 1}, {"x": 1e308 * 10}]}, "records.1.x", "finite"),
        ({"records": [{"x": 1}, {SURROGATE: 1}]}, "records.1.\\ud800", "a key that"),
        ({"records": [{"x": [[["deep", NUL]]]}]}, "records.0.x.0.0.1", "NUL"),
        ({"records": [{"x": -(10**19)}]}, "records.0.x", "64 bits"),
        ({"filters": {"col": [1, math.inf]}}, "filters.col.1", "finite"),
        ({"filters": {f"c{NUL}": "v"}}, "filters.c\x00", "a key that"),
    ],
)
def test_unusable_values_are_refused_naming_their_place(payload, field, rule):
    with pytest.raises(InvalidInput) as info:
        Example.parse(payload)
    assert info.value.field == field and rule in info.value.message
    assert info.value.message.startswith(f"{field}: ")
    json.dumps(safe_value(info.value.value), allow_nan=False).encode("utf-8")


@pytest.mark.parametrize(
    "payload",
    [
        {"name": "NaN"},  # words that look like the JSON literals are text like any other
        {"name": "Infinity and beyond"},
        {"name": "1234567890123456789012"},  # a long id of digits
        {"name": "Zoë \U0001f600 ok"},  # astral characters are text (a surrogate pair in JSON)
        {"count": 2**63 - 1},
        {"count": -(2**63)},
        {"ratio": 1e308},
        {"records": [{"x": "a\\u0000b", "y": 10**18, "z": None, "b": True}]},
    ],
)
def test_ordinary_values_pass(payload):
    assert Example.parse(payload).model_dump(exclude_none=True) == payload


def test_a_large_batch_of_ordinary_records_passes_unchanged():
    records = [{"id": f"S{i:07d}", "x": i / 7, "n": i, "c": "Cat"} for i in range(20_000)]
    assert Example.parse({"records": records}).records == records


def test_rules_in_words():
    assert text_problem("fine") is None and text_problem("ümlaut") is None
    assert "NUL" in text_problem("a\x00") and "surrogate" in text_problem("\udfff")
    assert number_problem(1.5) is None and number_problem(True) is None
    assert "finite" in number_problem(math.nan) and "64" in number_problem(2**64)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (math.nan, "nan"),
        (-math.inf, "-inf"),
        (SURROGATE, "\\ud800"),
        ({SURROGATE: [math.inf]}, {"\\ud800": ["inf"]}),
        (10**5000, "<a 16610-bit integer>"),  # too long even to turn into digits
        ("x" * 500, "x" * 200 + "…"),
        (1.7, 1.7),
        (["S1"], ["S1"]),
    ],
    ids=["nan", "-inf", "surrogate", "nested", "huge-int", "long-text", "float", "list"],
)
def test_a_refused_value_is_shown_back_in_a_form_any_response_can_carry(value, shown):
    assert safe_value(value) == shown


def test_an_error_body_is_always_serialisable():
    body = errors.error_body("invalid_input", f"bad {SURROGATE}", f"f{SURROGATE}", [math.nan])
    JSONResponse(body)  # renders with allow_nan=False and UTF-8, or raises
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    JSONResponse(errors.error_body("invalid_input", "deep", "x", deep))


def test_why_the_json_parser_refused_a_body_is_said_in_words():
    def cause_of(text: bytes) -> Exception:
        try:
            json.loads(text)
        except Exception as exc:  # the parser's own exception, as FastAPI chains it
            return exc
        raise AssertionError("parsed")

    assert "nested too deeply" in errors.unreadable_body(cause_of(b"[" * 100_000))
    assert "4,300 digits" in errors.unreadable_body(cause_of(b"9" * 5000))
    assert "UTF-8" in errors.unreadable_body(cause_of(b'"\xff"'))


# --- the edge middleware on a small app -------------------------------------------------------


class Runtime:
    def __init__(self, keys: KeyStore):
        self.keys = keys


@pytest.fixture
def small_app(tmp_path):
    """An app with a keyed body route, an open body route and a path parameter, behind the
    limits, its own error handlers and the unexpected-error middleware, as ``create_app``
    stacks them; ``app.state.key`` is a valid key."""
    store = KeyStore(tmp_path / "keys.json")
    app = FastAPI()
    app.state.runtime = Runtime(store)
    app.state.key = store.create("test", "staff")[1]
    errors.install(app)
    limits.install(app, CAP)
    app.add_middleware(errors.UnexpectedErrors)

    async def needs_key(token: str | None = Depends(presented_key)) -> str:
        if not token or store.authenticate(token) is None:
            raise errors.ApiError(401, "no key")
        return token

    @app.post("/keyed")
    def keyed(body: dict[str, Any], _: str = Depends(needs_key)) -> dict[str, int]:
        return {"keys": len(body)}

    @app.post("/open")
    def open_route(body: dict[str, Any]) -> dict[str, int]:
        return {"keys": len(body)}

    @app.get("/files/{name}")
    def files(name: str) -> dict[str, str]:
        return {"name": name}

    @app.get("/boom")
    def boom(secret: str = "") -> None:
        raise ValueError(f"the request said {secret}")

    return app


def call(app, method: str, path: str, headers: dict[str, str], chunks: list[bytes]):
    """Run one request through the app's ASGI interface; (status, body, bytes the app read)."""
    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks or [b""])
    ]
    read, sent = [], []

    async def receive():
        if messages:
            read.append(len(messages[0]["body"]))
            return messages.pop(0)
        await asyncio.sleep(3600)

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body), sum(read)


JSON = {"content-type": "application/json"}


def test_a_body_over_the_limit_by_its_length_is_refused_before_it_is_read(small_app):
    key = {"x-api-key": small_app.state.key}
    for path, headers in [("/open", {}), ("/keyed", key)]:
        status, body, read = call(
            small_app, "POST", path, {**JSON, **headers, "content-length": str(10**9)}, [b"{"]
        )
        assert (status, body["error"]["code"], read) == (413, "too_large", 0)
        assert body["error"]["field"] == "body" and body["error"]["value"] == 10**9


def test_a_streamed_body_is_refused_once_past_the_limit(small_app):
    chunks = [b'{"a": "' + b"x" * 4000] + [b"x" * 4000] * 1000 + [b'"}']
    for path, headers in [("/open", {}), ("/keyed", {"x-api-key": small_app.state.key})]:
        status, body, read = call(
            small_app, "POST", path, {**JSON, **headers, "transfer-encoding": "chunked"}, chunks
        )
        assert (status, body["error"]["code"], body["error"]["field"]) == (413, "too_large", "body")
        assert CAP < read <= CAP + 4007


@pytest.mark.parametrize("key", [None, "sara_nope_nope", "revoked"])
def test_without_a_valid_key_a_keyed_route_never_reads_the_body(small_app, key):
    headers = {**JSON, "content-length": str(10**9)}
    if key == "revoked":
        store = small_app.state.runtime.keys
        entry, key = store.create("gone", "admin")
        store.revoke(entry.id)
    if key:
        headers["authorization"] = f"Bearer {key}"
    status, body, read = call(small_app, "POST", "/keyed", headers, [b"{" * 1000])
    assert (status, body["error"]["code"], read) == (401, "unauthorized", 0)


def test_a_body_within_the_limit_is_served(small_app):
    payload = json.dumps({"a": "x" * (CAP - 100)}).encode()
    key = {"x-api-key": small_app.state.key}
    status, body, _ = call(
        small_app, "POST", "/keyed", {**JSON, **key, "content-length": str(len(payload))}, [payload]
    )
    assert (status, body) == (200, {"keys": 1})


@pytest.mark.parametrize(
    ("path", "rule"),
    [("/files/a%00.png", "NUL"), ("/files/" + "a" * 256, "longer than 255 bytes")],
)
def test_a_path_parameter_must_be_a_plain_name(small_app, path, rule):
    with TestClient(small_app) as client:
        response = client.get(path)
        error = response.json()["error"]
        assert response.status_code == 422 and error["field"] == "name" and rule in error["message"]
        assert client.get("/files/" + "é" * 127).status_code == 200  # 254 bytes


def test_a_query_parameter_with_a_nul_is_refused_naming_it(small_app):
    with TestClient(small_app) as client:
        response = client.get("/files/x?since=2024%00")
        assert response.status_code == 422 and response.json()["error"]["field"] == "since"


def test_413_is_documented_on_every_operation_with_a_body(small_app):
    paths = small_app.openapi()["paths"]
    assert "413" in paths["/keyed"]["post"]["responses"]
    assert "413" in paths["/open"]["post"]["responses"]
    assert "413" not in paths["/files/{name}"]["get"]["responses"]


def test_an_unexpected_error_is_one_log_line_without_the_request_values(small_app, caplog):
    with TestClient(small_app) as client, caplog.at_level(logging.DEBUG):
        response = client.get("/boom?secret=zebra-quokka-417")
        again = client.get("/files/ok")  # the same client goes on
    error = response.json()["error"]
    assert response.status_code == 500 and error["code"] == "internal_error"
    assert again.status_code == 200
    lines = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    line = lines[0]
    text = line.getMessage()
    assert "ValueError" in text and "GET /boom" in text and "test_input_limits.py" in text
    assert error["message"].split("incident ")[1].rstrip(")") in text
    assert "zebra-quokka-417" not in text and line.exc_info is None
