"""statops users add|list|disable and statops tokens create|list|revoke."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from statops.accounts import (
    ROLES,
    TokenInfo,
    add_user,
    create_token,
    disable_user,
    list_tokens,
    list_users,
    parse_expiry,
    revoke_token,
)
from statops.cli.common import HomeOption, JsonOption, acting, console, print_json, table

users_app = typer.Typer(help="Users of the workspace and their roles (admins only).", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens: shown once, stored hashed, revocable.", no_args_is_help=True)


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment:%Y-%m-%d %H:%M}"


@users_app.command("add", epilog="Example: statops users add alice --role approver --password")
def users_add(
    name: Annotated[str, typer.Argument(help="The user's name (letters, digits, '_', '-', '.').", show_default=False)],
    role: Annotated[str, typer.Option("--role", help=f"One of: {', '.join(ROLES)}.", show_default=False)],
    password: Annotated[bool, typer.Option(
        "--password", help="Prompt (twice, not echoed) for a password for the web pages.")] = False,
    home: HomeOption = None,
) -> None:
    """Add a user with a role. Give them a token with `statops tokens create --user NAME`."""
    ws, actor = acting(home)
    secret = None
    if password:
        secret = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    user = add_user(ws, actor, name, role, secret)
    console.print(f"[green]Added[/] user {user.name} ({user.role})"
                  + (" with a password" if user.has_password else ""), highlight=False)


@users_app.command("list", epilog="Example: statops users list --json")
def users_list(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """List users: role, whether disabled, whether they have a password, their usable tokens."""
    ws, actor = acting(home)
    users = list_users(ws, actor)
    if as_json:
        print_json([u.as_dict() for u in users])
        return
    console.print(table("Users", ["name", "role", "state", "password", "tokens", "created"],
                        [[u.name, u.role, "disabled" if u.disabled else "enabled", "yes" if u.has_password else "no",
                          u.active_tokens, _when(u.created_at)] for u in users]))


@users_app.command("disable", epilog="Example: statops users disable alice")
def users_disable(
    name: Annotated[str, typer.Argument(help="The user to disable.", show_default=False)],
    home: HomeOption = None,
) -> None:
    """Disable a user: their tokens and password stop working at once; their history stays."""
    ws, actor = acting(home)
    user = disable_user(ws, actor, name)
    console.print(f"[green]Disabled[/] user {user.name}", highlight=False)


@tokens_app.command("create", epilog="Example: statops tokens create --user alice --label laptop --expires 90d")
def tokens_create(
    user: Annotated[str | None, typer.Option("--user", help="Whose token (default: yours; others: admins only).",
                                             show_default=False)] = None,
    label: Annotated[str, typer.Option("--label", help="What the token is for.")] = "",
    expires: Annotated[str | None, typer.Option(
        "--expires", help="When it stops working: 30d, 12h, 45m, or an ISO date/time (UTC).",
        show_default=False)] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
    bare: Annotated[bool, typer.Option("--bare", help="Print only the token, for scripts: "
                                       "export STATOPS_TOKEN=$(statops tokens create --bare).")] = False,
) -> None:
    """Create an API token and print it once; only its hash is kept. Use it as STATOPS_TOKEN."""
    ws, actor = acting(home)
    info, secret = create_token(ws, actor, user, label, parse_expiry(expires) if expires else None)
    if bare:
        print(secret)
        return
    if as_json:
        print_json({**info.as_dict(), "token": secret})
        return
    console.print(f"[green]Created[/] token {info.id} for {info.user}"
                  + (f", expires {_when(info.expires_at)} UTC" if info.expires_at else "")
                  + ".", highlight=False)
    console.print("Shown only this once; keep it secret:")
    console.print(f"  {secret}", soft_wrap=True, highlight=False)


def _token_rows(tokens: list[TokenInfo]) -> list[list[object]]:
    return [[t.id, t.user, t.label, t.state, _when(t.expires_at), _when(t.last_used_at)]
            for t in tokens]


@tokens_app.command("list", epilog="Example: statops tokens list --all --json")
def tokens_list(
    user: Annotated[str | None, typer.Option("--user", help="Whose tokens (default: yours; others: admins only).",
                                             show_default=False)] = None,
    everyone: Annotated[bool, typer.Option("--all", help="Every user's tokens (admins only).")] = False,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """List tokens (never their secrets): state, expiry, last use."""
    ws, actor = acting(home)
    tokens = list_tokens(ws, actor, user, everyone)
    if as_json:
        print_json([t.as_dict() for t in tokens])
        return
    console.print(table("API tokens", ["id", "user", "label", "state", "expires", "last used"],
                        _token_rows(tokens)))


@tokens_app.command("revoke", epilog="Example: statops tokens revoke 3f9c2a1b7d4e")
def tokens_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id, from `statops tokens list`.", show_default=False)],
    home: HomeOption = None,
) -> None:
    """Revoke a token for good: yours, or anyone's if you are an admin."""
    ws, actor = acting(home)
    info = revoke_token(ws, actor, token_id)
    console.print(f"[green]Revoked[/] token {info.id} of {info.user}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
    app.add_typer(tokens_app, name="tokens")
