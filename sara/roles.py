"""Roles and callers: who may do what. Plain data with no dependencies, so what only needs
them (API keys, the CLI's key commands) starts without loading the tools and the model stack.

Roles nest: viewer < staff < analyst < admin."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Role = Literal["viewer", "staff", "analyst", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
RANK = {role: rank for rank, role in enumerate(ROLES)}


def role_allows(have: str, need: str) -> bool:
    """Roles nest: viewer < staff < analyst < admin."""
    return RANK[have] >= RANK[need]


@dataclass(frozen=True)
class Caller:
    """Who is calling: a key's id and name (never the key itself) and its role."""

    key_id: str
    name: str
    role: Role

    def can(self, role: str) -> bool:
        return role_allows(self.role, role)


LOCAL = Caller("local", "local terminal", "admin")
