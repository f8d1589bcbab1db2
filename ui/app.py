"""The chat UI (Gradio Blocks), mounted by the app at /ui.

Sign in with an API key, ask in plain language, and see beside each answer what it holds: the
student card, the chart, the equity report, follow-up suggestions and the tool calls behind it.
The UI holds no logic: every answer comes from the service, and the conversation state each
answer carries is handed back with the next question so follow-ups resolve.

The page takes no uploads and needs no file served: charts arrive inline in the answer's update
and the report downloads from a ``data:`` link. The app can therefore close every Gradio route
but the page's own (``page_route``): the key is checked inside the page's events, so a route
outside them (an upload, a file) could not check it."""

from __future__ import annotations

import base64
import html
import logging
import re
from dataclasses import dataclass
from typing import Any, Protocol

import gradio as gr

from assistant.types import Answer, ConversationState
from ui.charts import draw
from ui.panels import REPORT_NAME, fallback_note, student_card_html, tool_calls_markdown
from ui.style import CARD_CSS, PAGE_CSS

log = logging.getLogger(__name__)

TITLE = "SARA · Student Academic Risk Assistant"
HEADER = f"<h1>{TITLE}</h1><p>Risk scores with reasons, equity analysis and intervention plans.</p>"
SIGN_IN_HELP = (
    "### Sign in\nUse your SARA API key (staff role or higher). "
    "On a local install, `make run` prints the admin key (`sara keys local` prints it again)."
)
MAX_FOLLOW_UPS = 3
# Example buttons: filled at sign-in with questions in the served dataset's own words.
MAX_EXAMPLES = 5
BAD_KEY = "That key is not valid, or its role cannot use the assistant (staff or higher)."
PLACEHOLDER = (
    "**Ask about a student, a group or the model.**\n\n"
    "For example: *Why is <a student's id> high risk and what would help?*"
)
DETAILS_HINT = (
    "The student card, the chart, follow-up suggestions and the tools behind each answer "
    "appear here."
)
REPORT_LABEL = "Download the equity report (Markdown)"
# The report link, drawn like the page's primary buttons.
REPORT_CSS = """
a { display: block; text-align: center; padding: 6px 12px; text-decoration: none;
    border-radius: var(--button-small-radius); font-weight: var(--button-small-text-weight);
    font-size: var(--button-small-text-size); color: var(--button-primary-text-color);
    background: var(--button-primary-background-fill); }
a:hover { background: var(--button-primary-background-fill-hover); }
"""
# The Gradio routes this page uses, below its mount point: the page, its assets and its events
# (each event checks the key itself). Everything else Gradio serves (uploads, files, proxying,
# run history, its call API) is for pages that take or hand out files, which this one does not.
PAGE_ROUTES = {
    "GET": re.compile(
        r"/?|/(theme\.css|robots\.txt|manifest\.json|favicon\.ico|config/?)"
        r"|/(assets|static|svelte)/.+|/gradio_api/(queue/data|heartbeat/[^/]+)"
    ),
    "POST": re.compile(r"/gradio_api/(queue/join|run/predict|cancel|reset)/?"),
}


class ChatService(Protocol):
    """What the UI needs from the app: check a key, and ask as that key's holder."""

    def sign_in(self, key: str) -> tuple[str, str] | None: ...

    def examples(self, key: str) -> list[str]: ...

    def ask(self, key: str, question: str, state: ConversationState | None) -> Answer: ...


@dataclass
class View:
    """The components the event handlers read and write."""

    key: gr.State
    conversation: gr.State
    pending: gr.State
    key_box: gr.Textbox
    sign_in: gr.Button
    sign_out: gr.Button
    sign_in_panel: gr.Row
    sign_in_error: gr.Markdown
    status: gr.Markdown
    workspace: gr.Row
    chatbot: gr.Chatbot
    question: gr.Textbox
    send: gr.Button
    new_conversation: gr.Button
    examples: list[gr.Button]
    hint: gr.Markdown
    note: gr.Markdown
    card: gr.HTML
    chart: gr.Plot
    follow_up_panel: gr.Column
    follow_ups: list[gr.Button]
    report: gr.HTML
    tools: gr.Markdown

    @property
    def sign_in_toggles(self) -> list[Any]:
        """What ``_signed_in`` shows or hides."""
        return [self.sign_in_panel, self.workspace, self.sign_out]

    @property
    def answer_outputs(self) -> list[Any]:
        """What every answer (or its absence) updates, in the order ``_panels`` returns them."""
        return [
            self.chatbot,
            self.conversation,
            self.hint,
            self.note,
            self.card,
            self.chart,
            self.report,
            self.follow_up_panel,
            *self.follow_ups,
            self.tools,
        ]


def build_ui(service: ChatService) -> gr.Blocks:
    with gr.Blocks(title=TITLE) as blocks:
        view = _layout()
        _wire(view, service)
    return blocks


def _layout() -> View:
    key, conversation, pending = gr.State(None), gr.State(None), gr.State("")
    top = _header_and_sign_in()
    with gr.Row(visible=False, equal_height=False) as workspace:
        with gr.Column(scale=3, min_width=480):
            chat = _chat()
        with gr.Column(scale=2, min_width=380):
            details = _details()
    return View(
        key=key,
        conversation=conversation,
        pending=pending,
        workspace=workspace,
        **top,
        **chat,
        **details,
    )


def _header_and_sign_in() -> dict[str, Any]:
    with gr.Row(equal_height=False, elem_id="sara-header"):
        with gr.Column(scale=3):
            # `head` puts the page's stylesheet in <head>: the app mounts these Blocks, so the
            # UI cannot pass `css=` to Gradio itself.
            gr.HTML(HEADER, head=f"<style>{PAGE_CSS}</style>")
        with gr.Row(equal_height=True, scale=2):
            status = gr.Markdown("", elem_id="sara-status")
            sign_out = gr.Button("Sign out", size="sm", visible=False, scale=0, min_width=90)
    with gr.Row(visible=True) as sign_in_panel:
        gr.Column(scale=1, min_width=0)
        with gr.Column(scale=2, min_width=360, variant="panel"):
            gr.Markdown(SIGN_IN_HELP)
            key_box = gr.Textbox(
                label="API key", type="password", placeholder="sara_…", elem_id="sara-key"
            )
            sign_in = gr.Button("Sign in", variant="primary")
            sign_in_error = gr.Markdown("", elem_id="sara-sign-in-error")
        gr.Column(scale=1, min_width=0)
    return {
        "status": status,
        "sign_out": sign_out,
        "sign_in_panel": sign_in_panel,
        "key_box": key_box,
        "sign_in": sign_in,
        "sign_in_error": sign_in_error,
    }


def _chat() -> dict[str, Any]:
    chatbot = gr.Chatbot(
        show_label=False,
        height=600,
        placeholder=PLACEHOLDER,
        buttons=["copy"],
        elem_id="sara-chat",
    )
    with gr.Row(equal_height=True):
        question = gr.Textbox(
            show_label=False,
            placeholder="Ask a question and press Enter",
            scale=6,
            max_lines=4,
            elem_id="sara-question",
        )
        send = gr.Button("Send", variant="primary", scale=1, min_width=80)
    gr.Markdown("**Try asking**", elem_id="sara-try")
    with gr.Row(elem_id="sara-examples"):
        examples = [gr.Button(visible=False, size="sm", scale=0) for _ in range(MAX_EXAMPLES)]
    with gr.Row():
        new_conversation = gr.Button("New conversation", size="sm", scale=0)
    return {
        "chatbot": chatbot,
        "question": question,
        "send": send,
        "examples": examples,
        "new_conversation": new_conversation,
    }


def _details() -> dict[str, Any]:
    hint = gr.Markdown(DETAILS_HINT, elem_id="sara-hint")
    note = gr.Markdown(visible=False, elem_id="sara-note")
    card = gr.HTML(visible=False, css_template=CARD_CSS, elem_id="sara-student")
    chart = gr.Plot(visible=False, show_label=False, format="png", elem_id="sara-chart")
    report = gr.HTML(visible=False, css_template=REPORT_CSS, js_on_load=None, elem_id="sara-report")
    with gr.Column(visible=False, elem_id="sara-follow-ups") as follow_up_panel:
        gr.Markdown("**Suggested follow-ups**")
        follow_ups = [gr.Button(visible=False, size="sm") for _ in range(MAX_FOLLOW_UPS)]
    with gr.Accordion("How I got this", open=False, elem_id="sara-how"):
        tools = gr.Markdown("No question asked yet.")
    return {
        "hint": hint,
        "note": note,
        "card": card,
        "chart": chart,
        "report": report,
        "follow_up_panel": follow_up_panel,
        "follow_ups": follow_ups,
        "tools": tools,
    }


def _wire(view: View, service: ChatService) -> None:
    private = {"api_visibility": "private"}  # the REST API is /v1/chat; these are the page's own

    def sign_in(key: str) -> list:
        try:
            who = service.sign_in(key or "")
        except Exception as exc:  # show the reason, never a stack trace
            who, problem = None, _failure("sign-in", exc)
        else:
            problem = BAD_KEY
        if who is None:
            skip = [gr.skip()] * (4 + MAX_EXAMPLES)
            return [None, gr.skip(), f"⚠️ {problem}", *skip]
        name, role = who
        signed_in = f"Signed in as **{name}** ({role})"
        return [key.strip(), signed_in, "", *_signed_in(True), "", *_examples(service, key)]

    def respond(key, question, history, conversation) -> list:
        if not question:
            return gr.skip()
        try:
            answer = service.ask(key, question, conversation)
        except Exception as exc:  # show the reason, never a stack trace
            problem = _failure("question", exc)
            reply = {"role": "assistant", "content": f"⚠️ Could not answer: {problem}"}
            return [[*history, reply], conversation, *_panels(None)]
        reply = {"role": "assistant", "content": answer.text}
        return [[*history, reply], answer.state, *_panels(answer)]

    session = [view.key, view.status, view.sign_in_error, *view.sign_in_toggles]
    for trigger in (view.sign_in.click, view.key_box.submit):
        trigger(sign_in, [view.key_box], [*session, view.key_box, *view.examples], **private)
    view.sign_out.click(
        _sign_out, None, [*session, *view.answer_outputs, view.question, view.pending], **private
    )
    view.new_conversation.click(
        _reset, None, [*view.answer_outputs, view.question, view.pending], **private
    )
    ask = {"fn": respond, "outputs": view.answer_outputs, "concurrency_id": "ask", **private}
    ask_inputs = [view.key, view.pending, view.chatbot, view.conversation]
    typed = [view.question, view.chatbot, view.pending]
    for trigger in (view.question.submit, view.send.click):
        trigger(_take_typed, typed[:2], typed, queue=False, **private).then(
            inputs=ask_inputs, **ask
        )
    for button in (*view.examples, *view.follow_ups):
        button.click(
            _take, [button, view.chatbot], [view.chatbot, view.pending], queue=False, **private
        ).then(inputs=ask_inputs, **ask)


def _take_typed(question: str, history: list) -> tuple:
    """Show the typed question at once and clear the box; the answer follows."""
    question = (question or "").strip()
    if not question:
        return gr.skip(), gr.skip(), ""
    return "", [*history, {"role": "user", "content": question}], question


def _take(question: str, history: list) -> tuple:
    """Show a clicked suggestion as the user's question; the answer follows."""
    return [*history, {"role": "user", "content": question}], question


def _panels(answer: Answer | None) -> list:
    """The side panels of ``answer`` (all hidden for None), in ``View.answer_outputs`` order
    after the chatbot and the conversation."""
    if answer is None:
        return [
            gr.Markdown(visible=True),
            gr.Markdown(visible=False),
            gr.HTML(visible=False),
            gr.Plot(value=None, visible=False),
            gr.HTML("", visible=False),
            gr.Column(visible=False),
            *[gr.Button(visible=False) for _ in range(MAX_FOLLOW_UPS)],
            "No question asked yet.",
        ]
    suggestions = answer.follow_ups[:MAX_FOLLOW_UPS]
    note = fallback_note(answer)
    return [
        gr.Markdown(visible=False),
        gr.Markdown(note, visible=bool(note)),
        gr.HTML(
            student_card_html(answer.student) if answer.student else "",
            visible=answer.student is not None,
        ),
        gr.Plot(draw(answer.chart) if answer.chart else None, visible=answer.chart is not None),
        gr.HTML(
            report_link(answer.report_markdown) if answer.report_markdown else "",
            visible=answer.report_markdown is not None,
        ),
        gr.Column(visible=bool(suggestions)),
        *[gr.Button(text, visible=True) for text in suggestions],
        *[gr.Button(visible=False) for _ in range(MAX_FOLLOW_UPS - len(suggestions))],
        tool_calls_markdown(answer.tool_calls),
    ]


def report_link(markdown: str) -> str:
    """A link that downloads ``markdown`` as the report file, carrying it in a ``data:`` URL
    (base64, so nothing in the report can break out of the attribute)."""
    payload = base64.b64encode(markdown.encode("utf-8")).decode("ascii")
    return (
        f'<a download="{html.escape(REPORT_NAME)}" '
        f'href="data:text/markdown;charset=utf-8;base64,{payload}">{REPORT_LABEL}</a>'
    )


def page_route(method: str, path: str) -> bool:
    """Whether the page uses the Gradio route ``path`` (below the mount point) with ``method``."""
    pattern = PAGE_ROUTES.get("GET" if method == "HEAD" else method)
    return pattern is not None and ".." not in path and pattern.fullmatch(path) is not None


def _examples(service: ChatService, key: str) -> list:
    """The example buttons, filled with questions in the served dataset's words."""
    try:
        texts = service.examples(key)[:MAX_EXAMPLES]
    except Exception as exc:  # no examples is no reason to fail a sign-in
        _failure("examples", exc)
        texts = []
    shown = [gr.Button(value=text, visible=True) for text in texts]
    return shown + [gr.Button(visible=False)] * (MAX_EXAMPLES - len(shown))


def _signed_in(yes: bool) -> list:
    """Visibility of the sign-in panel, the workspace and the sign-out button."""
    return [gr.Row(visible=not yes), gr.Row(visible=yes), gr.Button(visible=yes)]


def _reset() -> list:
    """An empty conversation: no messages, no state, no panels, an empty question box."""
    return [[], None, *_panels(None), "", ""]


def _sign_out() -> list:
    return [None, "", "", *_signed_in(False), *_reset()]


def _failure(action: str, exc: Exception) -> str:
    """The message to show for a failed action. An error that carries a message for the user
    (a refused key) is logged as such; anything else is a bug, logged with its traceback."""
    message = getattr(exc, "message", None)
    if message:
        # Not the message: it may name a student; the kind of refusal and its field suffice.
        log.warning(
            "UI %s refused",
            action,
            extra={"error": type(exc).__name__, "field": getattr(exc, "field", None)},
        )
        return message
    log.exception("UI %s failed", action)
    return str(exc) or type(exc).__name__
