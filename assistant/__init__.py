"""The assistant: plain-language questions answered through the tool registry."""
