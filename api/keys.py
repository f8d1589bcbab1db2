"""API keys: random tokens shown once, stored only as SHA-256 hashes with a name and a role.

A key looks like ``sara_<id>_<secret>``; the id finds the entry, the hash of the whole key is
compared in constant time. The file is re-read when it changes, so keys created or revoked
with ``sara keys`` take effect on a running server without a restart."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from sara.roles import ROLES, Caller

LOCAL_ADMIN = "local-admin"


class KeyRequestError(ValueError):
    """A bad key request (unknown role, unknown id): the message says which."""


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    role: str
    hash: str
    created_at: str
    revoked: bool = False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _parse_id(token: str) -> str | None:
    parts = token.split("_")
    return parts[1] if len(parts) == 3 and parts[0] == "sara" and parts[1] else None


class KeyStore:
    """The keys file, cached in memory and reloaded when its modification time changes."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._keys: dict[str, ApiKey] = {}

    def _current(self) -> dict[str, ApiKey]:
        try:
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            with self._lock:
                self._keys = self._read() if stamp else {}
                self._stamp = stamp
        return self._keys

    def _read(self) -> dict[str, ApiKey]:
        entries = json.loads(self.path.read_text(encoding="utf-8"))
        return {e["id"]: ApiKey(**e) for e in entries}

    def _write(self, keys: dict[str, ApiKey]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps([asdict(k) for k in keys.values()], indent=2), encoding="utf-8")
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)

    def entries(self) -> list[ApiKey]:
        return list(self._current().values())

    def authenticate(self, token: str) -> Caller | None:
        """The principal for a presented key, or None when it is unknown or revoked."""
        entry = self._current().get(_parse_id(token) or "")
        # Compare even when the id is unknown, so timing does not reveal which ids exist.
        expected = entry.hash if entry else _digest("")
        matches = hmac.compare_digest(_digest(token), expected)
        if entry is None or not matches or entry.revoked:
            return None
        return Caller(entry.id, entry.name, entry.role)

    def create(self, name: str, role: str) -> tuple[ApiKey, str]:
        """A new key for ``role``; returns the entry and the token (shown once, never stored)."""
        if role not in ROLES:
            raise KeyRequestError(f"role {role!r} is not one of {', '.join(ROLES)}")
        if not name.strip():
            raise KeyRequestError("a key needs a name, e.g. the person or system using it")
        with self._lock:
            keys = self._read() if self.path.is_file() else {}
            key_id = secrets.token_hex(4)
            while key_id in keys:
                key_id = secrets.token_hex(4)
            token = f"sara_{key_id}_{secrets.token_urlsafe(24).replace('_', '-')}"
            entry = ApiKey(
                id=key_id,
                name=name.strip(),
                role=role,
                hash=_digest(token),
                created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            )
            keys[key_id] = entry
            self._write(keys)
        return entry, token

    def revoke(self, key_id: str) -> ApiKey:
        with self._lock:
            keys = self._read() if self.path.is_file() else {}
            if key_id not in keys:
                raise KeyRequestError(f"no key with id {key_id!r} (see `sara keys list`)")
            keys[key_id] = ApiKey(**{**asdict(keys[key_id]), "revoked": True})
            self._write(keys)
        return keys[key_id]


def local_admin_key(store: KeyStore, key_file: Path) -> str:
    """The development admin key: created once, kept in a private file in the workspace so the
    local UI can sign in; a fresh one replaces it if it was revoked or lost."""
    if key_file.is_file():
        token = key_file.read_text(encoding="utf-8").strip()
        principal = store.authenticate(token)
        if principal is not None and principal.role == "admin":
            return token
    _, token = store.create(LOCAL_ADMIN, "admin")
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.touch(mode=0o600)
    key_file.write_text(token + "\n", encoding="utf-8")
    return token
