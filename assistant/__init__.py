"""The assistant: plain-language questions answered with the tools' numbers.

``ask(question, conversation) -> Answer``; the offline backend is the default, any
OpenAI-compatible chat model is the other (``SARA_ASSISTANT_BACKEND=llm``)."""

from assistant.core import Assistant, ask
from assistant.types import Answer, Chart, ConversationState, StudentCard, ToolCall

__all__ = ["Answer", "Assistant", "Chart", "ConversationState", "StudentCard", "ToolCall", "ask"]
