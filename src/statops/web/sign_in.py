"""Signing in and out of the web pages with a governance password (`statops users add --password`)."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from statops.accounts.sessions import sign_in, sign_out
from statops.errors import InvalidInput, Unauthenticated
from statops.web.forms import csrf_ok, read_form
from statops.web.rendering import (
    HEADERS,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    message,
    page,
    set_cookie,
    signed_in,
    ws_of,
)

log = logging.getLogger("statops.web")
sign_in_pages = APIRouter(include_in_schema=False)
MAX_NAME_CHARS = 200


def safe_next(target: str) -> str:
    """Where to go after signing in: a path on this server only (never another site)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target and len(target) < 500:
        return target
    return "/review"


def _form(request: Request, error: str = "", status: int = 200, name: str = "") -> HTMLResponse:
    csrf = secrets.token_urlsafe(32)
    response = page("sign_in.html", status, csrf=csrf, error=error, name=name,
                    next=safe_next(request.query_params.get("next", "/review")))
    set_cookie(response, request, SIGN_IN_COOKIE, csrf, max_age=3600, path="/sign-in")
    return response


@sign_in_pages.get("/sign-in")
async def sign_in_page(request: Request) -> Response:
    if await signed_in(request) is not None:
        return RedirectResponse(safe_next(request.query_params.get("next", "/review")), 303, headers=HEADERS)
    return _form(request)


@sign_in_pages.post("/sign-in")
async def sign_in_form(request: Request) -> Response:
    try:
        form = await read_form(request)
    except InvalidInput as exc:
        return message("Sign-in refused", str(exc), 400, link=("/sign-in", "Sign in"))
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    if not expected or not csrf_ok(form, expected):
        return message("Sign-in refused", "The form had expired or did not come from this site; "
                       "please sign in again.", 403, link=("/sign-in", "Sign in"))
    name = form.field("name").strip()[:MAX_NAME_CHARS]
    ws = ws_of(request)
    try:
        session = await run_in_threadpool(sign_in, ws, name, form.field("password"),
                                          timedelta(hours=ws.settings.web_session_hours))
    except Unauthenticated as exc:
        log.info("web sign-in refused for a user name of %d characters", len(name))
        return _form(request, str(exc), 401, name)
    response = RedirectResponse(safe_next(form.field("next")), 303, headers=HEADERS)
    set_cookie(response, request, SESSION_COOKIE, session.secret, max_age=int(ws.settings.web_session_hours * 3600))
    response.delete_cookie(SIGN_IN_COOKIE, path="/sign-in")
    return response


@sign_in_pages.post("/sign-out")
async def sign_out_form(request: Request) -> Response:
    session = await signed_in(request)
    try:
        form = await read_form(request)
    except InvalidInput as exc:
        return message("Sign-out refused", str(exc), 400, session)
    if session is not None:
        if not csrf_ok(form, session.csrf):
            return message("Sign-out refused", "The form did not come from this site.", 403, session)
        await run_in_threadpool(sign_out, ws_of(request), request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/sign-in", 303, headers=HEADERS)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
