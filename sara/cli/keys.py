"""``sara keys``: create, list and revoke API keys."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from sara.cli.common import console, err, fail
from sara.settings import get_settings

app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


def _key_store():
    from api.keys import KeyStore

    return KeyStore(get_settings().keys_path)


@app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="viewer, staff, analyst or admin.")],
    name: Annotated[str, typer.Option(help="Who or what uses the key.")],
) -> None:
    """Create a key; it is printed once and stored only as a hash."""
    from api.keys import KeyRequestError

    try:
        entry, token = _key_store().create(name, role)
    except KeyRequestError as exc:
        raise fail(str(exc)) from None
    err.print(f"created key {entry.id} ({entry.name}, {entry.role}); it is shown only once:")
    console.print(token, highlight=False, soft_wrap=True)


@app.command("list")
def keys_list() -> None:
    """The keys: id, name, role, created, revoked (never the keys themselves)."""
    table = Table(title=f"API keys ({get_settings().keys_path})")
    for column in ("id", "name", "role", "created", "revoked"):
        table.add_column(column)
    for key in _key_store().entries():
        table.add_row(key.id, key.name, key.role, key.created_at, "yes" if key.revoked else "")
    console.print(table)


@app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (see `sara keys list`).")],
) -> None:
    """Revoke a key; a running server refuses it from the next request."""
    from api.keys import KeyRequestError

    try:
        entry = _key_store().revoke(key_id)
    except KeyRequestError as exc:
        raise fail(str(exc)) from None
    console.print(f"revoked {entry.id} ({entry.name})")


@app.command("local")
def keys_local() -> None:
    """Print the local admin key (created on first use; development only)."""
    from api.keys import local_admin_key

    current = get_settings()
    if current.environment != "development":
        raise fail("the local admin key exists only in development; use `sara keys create`")
    console.print(local_admin_key(_key_store(), current.local_key_path), highlight=False)
