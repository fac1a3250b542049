"""Token look-ups for a server that checks a token on every request and caches the answer.

`token_holder` applies the rules (unknown, revoked, expired token, disabled user: Unauthenticated),
only reading, and also says when the token expires and when it was last
used, so that a cache can keep the answer no longer than the token is valid. `record_use` writes
`last_used_at` (minute resolution) separately, so a server can do it off the request's path.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import or_, select, update

from statops.accounts.roles import Actor
from statops.accounts.tokens import LAST_USED_RESOLUTION, token_hash
from statops.errors import Unauthenticated
from statops.store.schema import ApiToken, User, aware
from statops.workspace import Workspace


@dataclass(frozen=True)
class TokenHolder:
    """Who a valid token acts as, and the token's id, expiry and last use."""

    actor: Actor
    token_id: str
    expires_at: datetime | None
    last_used_at: datetime | None

    def needs_use_recorded(self, now: datetime) -> bool:
        return self.last_used_at is None or now - self.last_used_at >= LAST_USED_RESOLUTION


def token_holder(ws: Workspace, digest: str, now: datetime | None = None) -> TokenHolder:
    """The holder of the token whose sha256 is `digest`; Unauthenticated for an unknown, expired or
    revoked token, or a disabled user (without writing anything)."""
    now = now or datetime.now(UTC)
    query = (select(ApiToken.id, ApiToken.revoked_at, ApiToken.expires_at, ApiToken.last_used_at,
                    User.name, User.role, User.disabled)
             .join(User, ApiToken.user_id == User.id).where(ApiToken.token_sha256 == digest))
    with ws.store.engine.connect() as connection:
        row = connection.execute(query).one_or_none()
    if row is None:
        raise Unauthenticated("unknown API token; create one with `statops tokens create`")
    token_id, revoked, expires, last_used, name, role, disabled = row
    if revoked is not None:
        raise Unauthenticated(f"API token {token_id} was revoked at {aware(revoked)}")
    expires = aware(expires)
    if expires is not None and expires <= now:
        raise Unauthenticated(f"API token {token_id} expired at {expires}")
    if disabled:
        raise Unauthenticated(f"user {name} is disabled")
    return TokenHolder(Actor(name, role, "token"), token_id, expires, aware(last_used))


def authenticate(ws: Workspace, secret: str) -> Actor:
    """The user whose token `secret` is (STATOPS_TOKEN for the CLI); Unauthenticated for an unknown,
    expired or revoked token, or a disabled user. Records when the token was last used (to the minute)."""
    now = datetime.now(UTC)
    holder = token_holder(ws, token_hash(secret.strip()), now)
    if holder.needs_use_recorded(now):
        record_use(ws, [holder.token_id], now)
    return holder.actor


def record_use(ws: Workspace, token_ids: Collection[str], at: datetime | None = None) -> int:
    """Set `last_used_at` of these tokens to `at` (default now) where it is older than a minute or
    unset; one statement. Returns how many tokens were updated."""
    if not token_ids:
        return 0
    at = at or datetime.now(UTC)
    statement = (update(ApiToken).where(ApiToken.id.in_(list(token_ids)))
                 .where(or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= at - LAST_USED_RESOLUTION))
                 .values(last_used_at=at))
    with ws.store.engine.begin() as connection:
        return int(connection.execute(statement).rowcount)


__all__ = ["TokenHolder", "authenticate", "record_use", "token_holder"]
