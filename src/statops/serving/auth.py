"""Who asks: the API token of every /v1 request (and of /metrics unless it is public), and whether
their role may take the route's action.

`TokenAuthentication` (ASGI middleware, before the body is read) answers 401 for a missing,
malformed, unknown, expired or revoked token, or a disabled user, and puts the token's `Actor` in
the request's scope. Each route declares its action with `Permission(action)` (a FastAPI
dependency that is also the OpenAPI bearer scheme), which answers 403 for a role that may not take
it. Answers are cached per process for `CACHE_SECONDS` (never past a token's expiry), so a revoked
token or a disabled user is refused within that time; `last_used_at` is written in the background,
at most once a minute per token. The token itself is never logged nor kept: the cache is keyed by
its sha256.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.security import HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from statops.accounts import Actor, require
from statops.accounts.lookup import TokenHolder, record_use, token_holder
from statops.accounts.tokens import token_hash
from statops.errors import StatopsError, Unauthenticated
from statops.serving.problems import BEARER_CHALLENGE, error_response
from statops.workspace import Workspace

log = logging.getLogger("statops.serving.auth")

CACHE_SECONDS = 5.0  # the longest a revoked token or a disabled user's token goes on working
MAX_CACHED = 10_000  # answers kept (valid and refused tokens): a flood of made-up tokens stays small
MAX_TOKEN_CHARS = 512
ACTOR = "statops.actor"  # the scope key of the authenticated Actor


class BadToken(Unauthenticated):
    """A token was sent, and it is not (or no longer) valid."""

    challenge = BEARER_CHALLENGE + ', error="invalid_token"'


class StoreUnavailable(StatopsError):
    """The token could not be checked: the store did not answer."""

    http_status = 503


@dataclass(frozen=True, slots=True)
class _Answer:
    holder: TokenHolder | None
    refusal: str  # why the token is refused (when holder is None)
    until: float  # time.monotonic() after which the token is looked up again


class TokenCache:
    """Token (by sha256) -> its holder, or why it is refused, for at most `seconds` and never past the
    token's expiry. Concurrent requests with a token not (or no longer) cached share one look-up."""

    def __init__(self, ws: Workspace, seconds: float = CACHE_SECONDS, max_entries: int = MAX_CACHED):
        self.ws = ws
        self.seconds = seconds
        self.max_entries = max_entries
        self._answers: dict[str, _Answer] = {}
        self._lookups: dict[str, asyncio.Future[_Answer]] = {}
        self._recording: set[str] = set()  # token ids whose last use is being written
        self._background: set[asyncio.Task[Any]] = set()
        self.lookups = 0  # store look-ups done (for tests and metrics)

    async def actor(self, secret: str) -> Actor:
        """The actor of token `secret`; BadToken when it is refused, StoreUnavailable when the store
        cannot say."""
        digest = token_hash(secret)
        answer = self._answers.get(digest)
        if answer is None or answer.until <= time.monotonic():
            answer = await self._look_up(digest)
        if answer.holder is None:
            raise BadToken(answer.refusal)
        return answer.holder.actor

    async def _look_up(self, digest: str) -> _Answer:
        pending = self._lookups.get(digest)
        if pending is None:
            pending = asyncio.ensure_future(self._fetch(digest))
            self._lookups[digest] = pending

            def done(future: asyncio.Future[_Answer]) -> None:
                self._lookups.pop(digest, None)
                if not future.cancelled():
                    future.exception()  # seen, even when every request waiting for it has given up

            pending.add_done_callback(done)
        return await asyncio.shield(pending)  # a request that gives up does not cancel the others' look-up

    async def _fetch(self, digest: str) -> _Answer:
        self.lookups += 1
        now = datetime.now(UTC)
        try:
            holder = await run_in_threadpool(token_holder, self.ws, digest, now)
        except Unauthenticated as exc:
            answer = _Answer(None, str(exc), time.monotonic() + self.seconds)
        except Exception as exc:  # the store: not the token's fault, and not remembered
            orig = getattr(exc, "orig", None) or exc  # the driver's error, without the statement
            log.error("could not check an API token: %s: %s", type(orig).__name__, str(orig).split("\n")[0][:200])
            raise StoreUnavailable("the API token could not be checked: the store does not answer; "
                                   "try again shortly") from None
        else:
            seconds = self.seconds
            if holder.expires_at is not None:
                seconds = min(seconds, (holder.expires_at - now).total_seconds())
            answer = _Answer(holder, "", time.monotonic() + seconds)
            if holder.needs_use_recorded(now):
                self._record_use(holder.token_id, now)
        self._remember(digest, answer)
        return answer

    def _remember(self, digest: str, answer: _Answer) -> None:
        if len(self._answers) >= self.max_entries:
            now = time.monotonic()
            self._answers = {d: a for d, a in self._answers.items() if a.until > now}
            if len(self._answers) >= self.max_entries:
                self._answers.clear()
        self._answers[digest] = answer

    def _record_use(self, token_id: str, at: datetime) -> None:
        """Write the token's last use in the background: the request does not wait for it."""
        if token_id in self._recording:
            return
        self._recording.add(token_id)

        async def record() -> None:
            try:
                await run_in_threadpool(record_use, self.ws, [token_id], at)
            except Exception as exc:
                log.warning("could not record the last use of API token %s: %s", token_id, type(exc).__name__)
            finally:
                self._recording.discard(token_id)

        task = asyncio.ensure_future(record())
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def bearer_token(scope: Scope) -> str | None:
    """The token of the request's `Authorization: Bearer` header; None when there is no header;
    BadToken when it is not a bearer token."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token or " " in token or len(token) > MAX_TOKEN_CHARS:
                raise Unauthenticated("the Authorization header must be `Bearer <token>`, with a statops "
                                      "API token")
            return token
    return None


def is_protected(path: str, metrics_public: bool) -> bool:
    """Whether a request to `path` needs a token: /v1, and /metrics unless it is public."""
    return path.startswith("/v1/") or path == "/v1" or (path == "/metrics" and not metrics_public)


class TokenAuthentication:
    """401 (problem+json, `WWW-Authenticate: Bearer`) for a protected route without a valid token;
    otherwise the token's Actor is `scope["statops.actor"]`. Runs before the body is read, so a
    client without a token cannot make the server read or parse one."""

    def __init__(self, app: ASGIApp, metrics_public: bool):
        self.app = app
        self.metrics_public = metrics_public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_protected(scope["path"], self.metrics_public):
            await self.app(scope, receive, send)
            return
        try:
            token = bearer_token(scope)
            if token is None:
                raise Unauthenticated("this route needs an API token: send `Authorization: Bearer <token>` "
                                      "(create a token with `statops tokens create`)")
            scope[ACTOR] = await scope["app"].state.runtime.tokens.actor(token)
        except StatopsError as exc:
            await error_response(exc, scope["path"])(scope, receive, send)
            return
        await self.app(scope, receive, send)


class Permission(HTTPBearer):
    """The route's action (`statops.accounts.roles.PERMISSIONS`), as a FastAPI dependency: 403 for a
    role that may not take it. `None`: any valid token. It is the OpenAPI bearer scheme too."""

    def __init__(self, action: str | None):
        super().__init__(scheme_name="bearer", bearerFormat="statops API token", auto_error=False,
                         description="An API token (`statops tokens create`), sent as `Authorization: Bearer "
                         "<token>`. Predicting needs the role coder, modeller, approver or admin; reading "
                         "models, any role.")
        self.action = action

    async def __call__(self, request: Request) -> Actor | None:  # type: ignore[override]
        actor: Actor | None = request.scope.get(ACTOR)
        if actor is None:
            if not is_protected(request.scope["path"], request.app.state.settings.serve_metrics_public):
                return None  # a public route (/metrics when STATOPS_SERVE_METRICS_PUBLIC=true)
            raise Unauthenticated("this route needs an API token")  # TokenAuthentication was not run
        if self.action is not None:
            require(request.app.state.runtime.ws, actor, self.action)
        return actor


__all__ = ["CACHE_SECONDS", "BadToken", "Permission", "TokenAuthentication", "TokenCache", "bearer_token",
           "is_protected"]
