"""What the assistant gives back, and the conversation state it carries between turns.

Both are plain pydantic models so that every surface (API, UI, terminal, evals) can send them
as JSON; the API is stateless because the client hands the state back with its next question."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SerializeAsAny, model_validator

from tools import TOOLS_BY_NAME
from tools.base import Tool, ToolInput, ToolOutput
from tools.cohort import FilterValue
from tools.errors import ToolError
from tools.session import ToolSession

Outcome = Literal["answered", "clarified", "refused", "error"]
Scalar = str | int | float | bool


class ToolCall(BaseModel):
    """One tool run in this turn: what was asked and what came back (the tool's own output
    model), or the error."""

    name: str
    arguments: dict[str, Any]
    output: SerializeAsAny[ToolOutput] | None = None
    error: str | None = None
    _json: tuple[ToolOutput, str] | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _typed_output(cls, data: Any) -> Any:
        """An output given as JSON becomes the named tool's output model again."""
        if isinstance(data, dict) and isinstance(data.get("output"), dict):
            tool = TOOLS_BY_NAME.get(str(data.get("name")))
            if tool is not None:
                data = {**data, "output": tool.output_model.model_validate(data["output"])}
        return data

    @classmethod
    def run(
        cls, session: ToolSession, tool: Tool, request: ToolInput | Mapping[str, Any]
    ) -> ToolCall:
        """Run one tool in ``session``; a tool error (bad input, a role too low, an unknown
        student) becomes the call's ``error``, its message naming the field, value and rule."""
        call = cls(name=tool.name, arguments=arguments_of(request))
        try:
            call.output = session.run(tool, request)
        except ToolError as exc:
            call.error = exc.message
        return call

    def data(self) -> dict[str, Any]:
        """The output as JSON-ready data (empty when the call failed)."""
        return self.output.model_dump(mode="json") if self.output is not None else {}

    def output_json(self) -> str:
        """The output as JSON text ("{}" when the call failed), made once per output."""
        if self.output is None:
            return "{}"
        made = self._json
        if made is None or made[0] is not self.output:
            made = self._json = (self.output, self.output.model_dump_json())
        return made[1]


def arguments_of(request: ToolInput | Mapping[str, Any]) -> dict[str, Any]:
    """A request as the arguments it was given with (JSON-ready)."""
    if isinstance(request, ToolInput):
        return request.model_dump(mode="json", exclude_unset=True)
    return dict(request)


class Chart(BaseModel):
    """A bar chart drawn by the surfaces from these numbers (all copied from a tool output)."""

    title: str
    x_label: str = ""
    labels: list[str]
    values: list[float]
    ci_low: list[float | None] | None = None
    ci_high: list[float | None] | None = None
    value_format: Literal["percent", "number", "signed", "points"] = Field(
        default="number",
        description="percent: shares (0-1); signed: contributions; points: changes of a share.",
    )


class StudentCard(BaseModel):
    """The one student an answer is about: score, level, reasons and the smallest change."""

    student_id: str
    risk_score: float
    risk_level: str
    top_risk_factors: list[str]
    counterfactual: str | None = None


class Pending(BaseModel):
    """A question waiting for one missing detail (asked back as a clarifying question)."""

    question: str
    missing: Literal["student", "budget", "attribute", "scope", "intervention"]


class ConversationState(BaseModel):
    """What follow-ups resolve against: the last student, cohort, interventions and intent."""

    model_config = ConfigDict(extra="forbid")
    student_id: str | None = None
    listed: list[str] | None = Field(default=None, description="Students the last list showed.")
    next_offset: int | None = Field(
        default=None, ge=0, description="Where the next page of the last list starts."
    )
    filters: dict[str, FilterValue] | None = None
    interventions: list[str] | None = None
    intents: list[str] = Field(default_factory=list)
    group_by: list[str] | None = None
    metric: str | None = None
    budget: float | None = None
    pending: Pending | None = None
    turns: int = Field(default=0, ge=0)


class LlmCall(BaseModel):
    """One request to the LLM endpoint in a turn: time taken and tokens used."""

    seconds: float
    ok: bool = True
    input_tokens: int = 0
    output_tokens: int = 0


class Answer(BaseModel):
    """The assistant's reply to one question."""

    text: str
    outcome: Outcome
    intents: list[str] = Field(default_factory=list)
    tool_calls: list[ToolCall] = Field(default_factory=list)
    chart: Chart | None = None
    student: StudentCard | None = None
    report_markdown: str | None = Field(
        default=None, description="The full equity report, when the answer summarises equity."
    )
    follow_ups: list[str] = Field(default_factory=list)
    declined: list[str] = Field(
        default_factory=list,
        description="Parts of the question the answer says it does not answer, and why (what "
        "the data cannot tell, a role it lacks, a part a tool could not do): a part left out "
        "is named, never dropped.",
    )
    backend: str = "offline"
    fallback_reason: str | None = Field(
        default=None, description="Why the LLM backend handed this turn to the offline one."
    )
    grounding_replaced: bool = Field(
        default=False, description="True when an ungrounded answer was replaced by the template."
    )
    state: ConversationState = Field(default_factory=ConversationState)
    llm_calls: list[LlmCall] = Field(
        default_factory=list, description="Requests made to the LLM endpoint in this turn."
    )
