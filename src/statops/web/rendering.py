"""Rendering pages: the templates, the session cookie, and the headers every page carries (a strict
content security policy: scripts, styles and images only from the server itself)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from statops.accounts.sessions import SignedIn, session_of
from statops.errors import Unauthenticated

SESSION_COOKIE = "statops_session"
SIGN_IN_COOKIE = "statops_sign_in"  # the CSRF token of the sign-in form, before there is a session
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
_TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
                         autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)


def page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """`template` rendered with `context`, with the pages' security headers."""
    return HTMLResponse(_TEMPLATES.get_template(template).render(**context), status_code=status, headers=HEADERS)


def message(title: str, text: str, status: int, signed: SignedIn | None = None,
            link: tuple[str, str] | None = None) -> HTMLResponse:
    """A page that says one thing (an error, a refusal) with a way on."""
    return page("message.html", status, title=title, text=text, signed=signed, link=link)


def ws_of(request: Request) -> Any:
    return request.app.state.runtime.ws


async def signed_in(request: Request) -> SignedIn | None:
    """The request's live session, or None (no cookie, or one that ended)."""
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret or len(secret) > 200:
        return None
    ws = ws_of(request)
    try:
        return await run_in_threadpool(session_of, ws, secret, timedelta(minutes=ws.settings.web_idle_minutes))
    except Unauthenticated:
        return None


def to_sign_in(request: Request) -> RedirectResponse:
    """Back to the sign-in page, coming back here afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/sign-in?next={quote(target, safe='')}", status_code=303, headers=HEADERS)


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int | None,
               path: str = "/") -> None:
    """An HttpOnly, SameSite=Strict cookie; Secure over HTTPS or when the settings ask for it."""
    secure = request.url.scheme == "https" or ws_of(request).settings.web_secure_cookies
    response.set_cookie(name, value, max_age=max_age, path=path, httponly=True, samesite="strict", secure=secure)

