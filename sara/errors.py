"""The one base class of errors a user can act on, importable anywhere at no cost."""

from __future__ import annotations


class UserError(Exception):
    """An error whose message tells the user what is wrong and what to do about it.

    The CLI prints the message and exits with code 1, without a stack trace. Subclasses keep
    their own standard base (``ValueError``, ``RuntimeError``) so existing handlers still match.
    """
