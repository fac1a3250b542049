"""Identities: users with roles, API tokens, and the permission check (`require`) that the CLI and the
HTTP API share. Who acts is `current_actor(ws)`: the user of STATOPS_TOKEN, else the workspace's local
admin (whoever can read the workspace's files can open its store, so is its admin)."""

from __future__ import annotations

import re

from sqlalchemy import select

from statops.accounts.lookup import authenticate
from statops.accounts.roles import PERMISSIONS, ROLES, Actor, allowed, check_role, require
from statops.accounts.tokens import (
    TokenInfo,
    create_token,
    list_tokens,
    parse_expiry,
    revoke_token,
)
from statops.accounts.users import UserInfo, add_user, disable_user, list_users, verify_password
from statops.settings import os_user
from statops.store.schema import User
from statops.workspace import Workspace


def current_actor(ws: Workspace) -> Actor:
    """Who acts on `ws`: the user of the token in the settings (STATOPS_TOKEN), else the local admin.

    Sets `ws.acting_user`, so audit rows name them."""
    if ws.settings.token is not None:
        actor = authenticate(ws, ws.settings.token.get_secret_value())
    else:
        actor = Actor(ws.settings.actor, "admin", "local")
    ws.acting_user = actor.name
    return actor


def ensure_admin(ws: Workspace, name: str | None = None) -> tuple[UserInfo, str] | None:
    """On a workspace without users: the admin user `name` (default the OS account) and a token for
    it, whose secret is returned once. None when the workspace has users already."""
    name = name or re.sub(r"[^A-Za-z0-9_.\-]", "-", os_user()).lstrip("-_.") or "admin"
    with ws.store.session() as session:
        if session.scalar(select(User.id).limit(1)) is not None:
            return None
    local = Actor(name, "admin", "local")
    user = add_user(ws, local, name, "admin")
    token, secret = create_token(ws, local, name, label="statops init")
    return user, secret


__all__ = [
    "PERMISSIONS", "ROLES", "Actor", "TokenInfo", "UserInfo", "add_user", "allowed", "authenticate",
    "check_role", "create_token", "current_actor", "disable_user", "ensure_admin", "list_tokens", "list_users",
    "parse_expiry", "require", "revoke_token", "verify_password",
]
