"""``sara chat``: the assistant in the terminal, one question or a conversation."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Annotated

import typer

from sara.cli.common import console, err, fail
from sara.settings import get_settings

CHAT_ROUTE = "sara chat"  # how the audit log names reads made from the terminal


def chat_command(
    question: Annotated[
        str | None, typer.Argument(help="Ask one question and exit (default: a conversation).")
    ] = None,
    backend: Annotated[
        str | None, typer.Option(help="offline or llm (default SARA_ASSISTANT_BACKEND).")
    ] = None,
    role: Annotated[
        str, typer.Option(help="Role the tools run with (the terminal is a local operator).")
    ] = "admin",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole answer as JSON.")
    ] = False,
) -> None:
    """Ask SARA in plain language, in the terminal (the same assistant as /v1/chat and /ui)."""
    from rich.markdown import Markdown

    from api.audit import AuditLog, audit_observer
    from api.errors import status_of
    from assistant import Assistant, ConversationState
    from sara.roles import LOCAL
    from tools.base import ROLES
    from tools.context import load_context
    from tools.errors import ToolError
    from tools.session import ToolSession

    if backend not in (None, "offline", "llm"):
        raise fail(f"--backend: {backend!r} is not one of offline, llm")
    if role not in ROLES:
        raise fail(f"--role: {role!r} is not one of {', '.join(ROLES)}")
    settings = get_settings()
    logging.getLogger("assistant").setLevel(logging.WARNING)  # the answer is the output here
    try:
        ctx = load_context(settings, local_first=True)
    except ToolError as exc:
        raise fail(exc.message) from None
    sara = Assistant(settings)
    state = ConversationState()
    caller = replace(LOCAL, role=role)
    # The terminal reads student data too: its reads go to the same audit log as the API's.
    observers = [audit_observer(AuditLog(settings.audit_path), status_of)]

    def answer(text: str) -> None:
        nonlocal state
        try:
            session = ToolSession(lambda: ctx, caller, observers, CHAT_ROUTE, "assistant")
            reply = sara.ask(text, state, session, backend=backend)
        except ToolError as exc:
            err.print(f"[red]{exc.message}[/]", highlight=False)
            return
        state = reply.state
        if as_json:
            console.print_json(reply.model_dump_json())
            return
        console.print(Markdown(reply.text))
        if reply.fallback_reason:
            console.print(f"[yellow]answered offline: {reply.fallback_reason}[/]", highlight=False)
        if reply.tool_calls:
            used = ", ".join(f"{c.name}({json.dumps(c.arguments)})" for c in reply.tool_calls)
            console.print(f"[dim]tools: {used}[/]", highlight=False)
        if reply.follow_ups:
            console.print("[dim]try: " + " · ".join(reply.follow_ups) + "[/]", highlight=False)

    if question is not None:
        answer(question)
        return
    console.print("SARA: ask about student risk; 'exit' to leave.", highlight=False)
    while True:
        try:
            text = console.input("[bold]you> [/]").strip()
        except (EOFError, KeyboardInterrupt):
            break
        if text.lower() in ("exit", "quit", ":q"):
            break
        if text:
            answer(text)
