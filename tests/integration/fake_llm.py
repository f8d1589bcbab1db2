"""A small fake OpenAI-compatible server for the LLM backend's tests: real HTTP on 127.0.0.1,
playing a script of replies (tool calls, answers, errors, stalls) in order."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pydantic import SecretStr

from sara.settings import Settings

Reply = Callable[[dict], tuple[int, dict]]
# How long a stalled reply is held at most: longer than any test waits for a client to give up.
STALL_BOUND_S = 600


def tool_call(name: str, arguments: str | dict, call_id: str = "call_1") -> Reply:
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)

    def reply(body: dict) -> tuple[int, dict]:
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": raw}}
            ],
        }
        return 200, completion(message, "tool_calls")

    return reply


def say(text: str | Callable[[dict], str]) -> Reply:
    def reply(body: dict) -> tuple[int, dict]:
        content = text(body) if callable(text) else text
        return 200, completion({"role": "assistant", "content": content}, "stop")

    return reply


def fail(status: int) -> Reply:
    return lambda body: (status, {"error": {"message": "upstream exploded", "type": "server"}})


class Stall:
    """A reply held back until ``release()``, so the client's timeout fires first however slow
    the machine is; ``sent`` says whether the reply went out. The hold is bounded, so a client
    that never gives up gets "too late" rather than hanging the test."""

    def __init__(self, bound_s: float = STALL_BOUND_S):
        self.bound_s, self.sent = bound_s, False
        self._released = threading.Event()

    def __call__(self, body: dict) -> tuple[int, dict]:
        self._released.wait(self.bound_s)
        self.sent = True
        return say("too late")(body)

    def release(self) -> None:
        self._released.set()


def completion(message: dict, finish: str) -> dict:
    return {
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": "fake",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }  # fmt: skip


def last_tool_result(body: dict) -> dict:
    tool_messages = [m for m in body["messages"] if m["role"] == "tool"]
    return json.loads(tool_messages[-1]["content"])


class FakeLLM:
    """An OpenAI-compatible /v1/chat/completions that plays a script of replies in order."""

    def __init__(self):
        self.script: list[Reply] = []
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(
                    {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
                )
                status, payload = fake.script.pop(0)(body) if fake.script else fail(500)(body)
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def play(self, *replies: Reply) -> None:
        self.script, self.requests = list(replies), []


def llm_settings(settings: Settings, fake: FakeLLM, timeout_s: float) -> Settings:
    """``settings`` with the LLM backend pointed at ``fake``."""
    return settings.model_copy(update={
        "assistant_backend": "llm", "llm_base_url": fake.url, "llm_model": "fake-model",
        "llm_api_key": SecretStr("sk-test-not-real"), "llm_timeout_s": timeout_s,
    })  # fmt: skip
