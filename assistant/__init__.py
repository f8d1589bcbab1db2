"""The assistant: plain-language questions answered with the tools' numbers.

``Assistant(settings).ask(question, conversation, session) -> Answer``, the tools running in
a ``tools.session.ToolSession``; the offline backend is the default, any OpenAI-compatible chat
model is the other (``SARA_ASSISTANT_BACKEND=llm``)."""

from assistant.core import Assistant
from assistant.types import Answer, Chart, ConversationState, StudentCard, ToolCall

__all__ = ["Answer", "Assistant", "Chart", "ConversationState", "StudentCard", "ToolCall"]
