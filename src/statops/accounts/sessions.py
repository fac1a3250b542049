"""Sign-in sessions for the web pages: a user signs in with their password and gets a random session
secret (sent as an HttpOnly cookie) and a CSRF token for the session's forms.

Only the sha256 of the secret is stored, so a copy of the store cannot be used to sign in. A session
ends at its absolute expiry, after `idle` without use, when the user signs out, or when the user is
disabled; each use moves its idle clock (written at most once a minute).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update

from statops.accounts.roles import Actor
from statops.accounts.tokens import token_hash
from statops.accounts.users import verify_password
from statops.errors import Unauthenticated
from statops.store.schema import User, WebSession, aware
from statops.workspace import Workspace

SEEN_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class SignedIn:
    """A live session: who it acts as, its CSRF token, and (once, at sign-in) its secret."""

    actor: Actor
    csrf: str
    expires_at: datetime
    secret: str = ""


def sign_in(ws: Workspace, name: str, password: str, lifetime: timedelta) -> SignedIn:
    """A new session for `name` if `password` is theirs; Unauthenticated (one message for every failure)."""
    actor = verify_password(ws, name, password)
    secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with ws.store.session() as session:
        user_id = session.scalar(select(User.id).where(User.name == actor.name))
        session.add(WebSession(session_sha256=token_hash(secret), user_id=user_id, csrf=csrf, created_at=now,
                               seen_at=now, expires_at=now + lifetime))
        session.execute(delete(WebSession).where(WebSession.expires_at < now))  # tidy: ended sessions go
        ws.store.audit(session, actor.name, "session.sign-in", f"user:{actor.name}")
    return SignedIn(Actor(actor.name, actor.role, "session"), csrf, now + lifetime, secret)


def session_of(ws: Workspace, secret: str, idle: timedelta) -> SignedIn:
    """The live session whose cookie is `secret`; Unauthenticated when it is unknown, expired, idle too
    long, or its user is disabled."""
    digest, now = token_hash(secret), datetime.now(UTC)
    query = (select(WebSession.csrf, WebSession.seen_at, WebSession.expires_at, User.name, User.role, User.disabled)
             .join(User, WebSession.user_id == User.id).where(WebSession.session_sha256 == digest))
    with ws.store.engine.connect() as connection:
        row = connection.execute(query).one_or_none()
    if row is None:
        raise Unauthenticated("not signed in")
    csrf, seen, expires, name, role, disabled = row
    seen, expires = aware(seen), aware(expires)
    if disabled or expires <= now or now - seen > idle:
        raise Unauthenticated("your session has ended; sign in again")
    if now - seen >= SEEN_RESOLUTION:
        with ws.store.engine.begin() as connection:
            connection.execute(update(WebSession).where(WebSession.session_sha256 == digest).values(seen_at=now))
    return SignedIn(Actor(name, role, "session"), csrf, expires)


def sign_out(ws: Workspace, secret: str) -> None:
    """End the session whose cookie is `secret` (nothing happens for an unknown one)."""
    with ws.store.session() as session:
        name = session.scalar(select(User.name).join(WebSession, WebSession.user_id == User.id)
                              .where(WebSession.session_sha256 == token_hash(secret)))
        if name is not None:
            session.execute(delete(WebSession).where(WebSession.session_sha256 == token_hash(secret)))
            ws.store.audit(session, name, "session.sign-out", f"user:{name}")


def csrf_matches(expected: str, sent: str | None) -> bool:
    """Whether a form's CSRF token is the session's (compared in constant time)."""
    return bool(sent) and hmac.compare_digest(expected.encode(), (sent or "").encode())
