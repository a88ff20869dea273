"""``sitecheck keys``: create, list and revoke API keys (the token is printed once)."""

from __future__ import annotations

import getpass
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sitecheck.access import ROLES, issue_key, revoke_key
from sitecheck.errors import SitecheckError
from sitecheck.settings import get_settings
from sitecheck.stores import open_store

keys_cli = typer.Typer(help="Create, list and revoke API keys (访问密钥)", no_args_is_help=True)
console = Console()


def _actor() -> str:
    """How audit rows name the person at the command line."""
    return f"cli:{getpass.getuser()}"


@keys_cli.command("create")
def create(
    name: Annotated[str, typer.Option(help="What the key is for, e.g. 规划科工作站")],
    role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}")],
    organisation: Annotated[str, typer.Option(help="The organisation whose checks the key may read")],
    scope: Annotated[list[str] | None, typer.Option(help="For system keys: a permission, repeatable")] = None,
    expires: Annotated[datetime | None, typer.Option(help="Expiry time (ISO 8601)")] = None,
) -> None:
    """Create a key and print its token once: store it now, it cannot be shown again."""
    store = open_store(get_settings())
    try:
        token, record = issue_key(
            store,
            name=name,
            role=role,
            organisation=organisation,
            scopes=tuple(scope or ()),
            expires_at=expires.astimezone() if expires else None,
            by=_actor(),
        )
    except SitecheckError as error:
        console.print(f"[bold red]{error.code}[/] {error.message_zh}\n{error.message_en}")
        raise typer.Exit(2) from None
    finally:
        store.close()
    console.print(f"key {record.key_id} ({record.role}, {record.organisation}) created; its token, shown once:")
    print(token)


@keys_cli.command("list")
def list_keys() -> None:
    """List keys with their role, organisation, expiry and revocation (never the secret)."""
    store = open_store(get_settings())
    try:
        table = Table(title="API keys")
        for column in ("key_id", "name", "role", "organisation", "scopes", "created", "expires", "revoked"):
            table.add_column(column)
        for key in store.list_keys():
            table.add_row(
                key.key_id,
                key.name,
                key.role,
                key.organisation,
                ",".join(key.scopes),
                key.created_at.strftime("%Y-%m-%d %H:%M"),
                key.expires_at.strftime("%Y-%m-%d %H:%M") if key.expires_at else "-",
                key.revoked_at.strftime("%Y-%m-%d %H:%M") if key.revoked_at else "-",
            )
        console.print(table)
    finally:
        store.close()


@keys_cli.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key id shown by 'keys list'")]) -> None:
    """Revoke a key: it stops working at once."""
    store = open_store(get_settings())
    try:
        record = revoke_key(store, key_id, by=_actor())
    except SitecheckError as error:
        console.print(f"[bold red]{error.code}[/] {error.message_zh}\n{error.message_en}")
        raise typer.Exit(2) from None
    finally:
        store.close()
    console.print(f"key {record.key_id} revoked at {record.revoked_at}")
