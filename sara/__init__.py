"""SARA, the Student Academic Risk Assistant: composition root (settings and CLI)."""

__version__ = "0.1.0"
