"""Users of a workspace: add, list, disable; passwords kept as argon2 hashes only."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from statops.accounts.roles import Actor, check_role, require
from statops.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from statops.names import check_name
from statops.store.schema import ApiToken, User
from statops.workspace import Workspace

MIN_PASSWORD_LENGTH = 12
_hasher = PasswordHasher()


@dataclass(frozen=True)
class UserInfo:
    name: str
    role: str
    disabled: bool
    has_password: bool
    created_at: datetime
    created_by: str
    active_tokens: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _info(user: User, active_tokens: int = 0) -> UserInfo:
    return UserInfo(user.name, user.role, user.disabled, user.password_hash is not None,
                    user.created_at, user.created_by, active_tokens)


def find_user(session: Session, name: str) -> User:
    """The user called `name`, or a NotFound."""
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"unknown user {name}; add one with `statops users add {name} --role ROLE`")
    return user


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"the password is too short: use at least {MIN_PASSWORD_LENGTH} characters")
    return password


def add_user(ws: Workspace, actor: Actor, name: str, role: str, password: str | None = None) -> UserInfo:
    """A new, enabled user (admins only); the password, if any, is stored as an argon2 hash."""
    require(ws, actor, "users.manage")
    check_name(name, "user")
    check_role(role)
    hashed = _hasher.hash(check_password(password)) if password is not None else None
    with ws.store.session() as session:
        if session.scalar(select(User).where(User.name == name)) is not None:
            raise Conflict(f"user {name} already exists")
        user = User(name=name, role=role, password_hash=hashed, disabled=False, created_by=actor.name)
        session.add(user)
        ws.store.audit(session, actor.name, "user.add", f"user:{name}", role=role,
                       password=hashed is not None)
        session.flush()
        return _info(user)


def list_users(ws: Workspace, actor: Actor) -> list[UserInfo]:
    """Every user, by name, with how many usable tokens each has (admins only)."""
    require(ws, actor, "users.manage")
    with ws.store.session() as session:
        counts = dict(session.execute(
            select(ApiToken.user_id, func.count()).where(ApiToken.revoked_at.is_(None)).group_by(ApiToken.user_id)
        ).tuples().all())
        return [_info(u, counts.get(u.id, 0)) for u in session.scalars(select(User).order_by(User.name))]


def disable_user(ws: Workspace, actor: Actor, name: str) -> UserInfo:
    """Disable a user (admins only): their tokens and password stop working; their history stays.

    The last enabled admin cannot be disabled."""
    require(ws, actor, "users.manage")
    with ws.store.session() as session:
        user = find_user(session, name)
        if user.disabled:
            raise Conflict(f"user {name} is already disabled")
        if user.role == "admin":
            admins = session.scalar(select(func.count()).select_from(User).where(
                User.role == "admin", User.disabled.is_(False)))
            if admins == 1:
                raise Conflict(f"{name} is the last enabled admin; add another admin first")
        user.disabled = True
        ws.store.audit(session, actor.name, "user.disable", f"user:{name}")
        return _info(user)


def verify_password(ws: Workspace, name: str, password: str) -> Actor:
    """The user `name` if `password` is theirs; one message for every failure, so it tells nothing."""
    refused = Unauthenticated("unknown user or wrong password")
    with ws.store.session() as session:
        user = session.scalar(select(User).where(User.name == name))
        if user is None or user.password_hash is None or user.disabled:
            raise refused
        try:
            _hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            raise refused from None
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)
        return Actor(user.name, user.role, "password")
