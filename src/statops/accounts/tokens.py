"""API tokens: random secrets shown once, kept as sha256 hashes, revocable, with optional expiry."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from statops.accounts.roles import Actor, require
from statops.accounts.users import find_user
from statops.errors import Conflict, InvalidInput, NotFound
from statops.store.schema import ApiToken, User, aware
from statops.workspace import Workspace

TOKEN_PREFIX = "statops_"
LAST_USED_RESOLUTION = timedelta(minutes=1)  # a busy token is not rewritten on every request
_DURATION = re.compile(r"^(\d+)([dhm])$")


@dataclass(frozen=True)
class TokenInfo:
    id: str
    user: str
    label: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= datetime.now(UTC):
            return "expired"
        return "active"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "state": self.state}


def _info(token: ApiToken) -> TokenInfo:
    return TokenInfo(token.id, token.user.name, token.label, aware(token.created_at) or token.created_at,
                     aware(token.expires_at), aware(token.revoked_at), aware(token.last_used_at))


def token_hash(secret: str) -> str:
    """sha256 is enough for high-entropy random tokens (no guessing to slow down, unlike passwords)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def parse_expiry(text: str, now: datetime | None = None) -> datetime:
    """'30d', '12h', '45m', or an ISO date or time (UTC unless it says otherwise), in the future."""
    now = now or datetime.now(UTC)
    match = _DURATION.match(text.strip())
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        moment = now + {"d": timedelta(days=amount), "h": timedelta(hours=amount),
                        "m": timedelta(minutes=amount)}[unit]
    else:
        try:
            moment = aware(datetime.fromisoformat(text.strip())) or now
        except ValueError:
            raise InvalidInput(f"invalid expiry '{text}': use e.g. 30d, 12h, 45m or 2025-12-31T18:00") from None
    if moment <= now:
        raise InvalidInput(f"the expiry {moment.isoformat()} is not in the future")
    return moment


def _target(ws: Workspace, actor: Actor, user: str | None) -> str:
    """Whose tokens: one's own (any role), or another user's (admins only)."""
    if user is None or user == actor.name:
        require(ws, actor, "tokens.own")
        return actor.name
    require(ws, actor, "tokens.manage")
    return user


def create_token(ws: Workspace, actor: Actor, user: str | None = None, label: str = "",
                 expires_at: datetime | None = None) -> tuple[TokenInfo, str]:
    """A new token for `user` (default: the actor); returns its record and the secret, shown only now."""
    name = _target(ws, actor, user)
    if expires_at is not None and aware(expires_at) <= datetime.now(UTC):  # type: ignore[operator]
        raise InvalidInput("the expiry is not in the future")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with ws.store.session() as session:
        owner = find_user(session, name)
        if owner.disabled:
            raise Conflict(f"user {name} is disabled")
        token = ApiToken(id=secrets.token_hex(6), user=owner, label=label, token_sha256=token_hash(secret),
                         expires_at=expires_at, created_at=datetime.now(UTC))
        session.add(token)
        ws.store.audit(session, actor.name, "token.create", f"token:{token.id}", user=name, label=label,
                       expires_at=expires_at.isoformat() if expires_at else None)
        session.flush()
        return _info(token), secret


def list_tokens(ws: Workspace, actor: Actor, user: str | None = None, everyone: bool = False) -> list[TokenInfo]:
    """The tokens of `user` (default: the actor), or of every user (admins only); never their secrets."""
    with ws.store.session() as session:
        query = select(ApiToken).join(User).order_by(ApiToken.created_at)
        if everyone:
            require(ws, actor, "tokens.manage")
        else:
            name = _target(ws, actor, user)
            query = query.where(User.id == find_user(session, name).id)
        return [_info(t) for t in session.scalars(query)]


def revoke_token(ws: Workspace, actor: Actor, token_id: str) -> TokenInfo:
    """Revoke a token for good: one's own (any role) or anyone's (admins only)."""
    with ws.store.session() as session:
        token = session.get(ApiToken, token_id)
        if token is None:
            raise NotFound(f"unknown token {token_id}; see `statops tokens list`")
        _target(ws, actor, token.user.name)
        if token.revoked_at is not None:
            raise Conflict(f"token {token_id} was already revoked at {aware(token.revoked_at)}")
        token.revoked_at = datetime.now(UTC)
        ws.store.audit(session, actor.name, "token.revoke", f"token:{token_id}", user=token.user.name)
        return _info(token)

