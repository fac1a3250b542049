"""The web pages of `statops serve`: server-rendered (Jinja2, plain forms, one small script for keys),
with every asset served from the package (no CDN, no build step). Signed in with the governance
passwords; every form carries the session's CSRF token. Today: the coding page of the review queue."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "static"


def install_web(app: FastAPI) -> None:
    """Add the pages and their static files to `app`."""
    from statops.web.review_pages import pages
    from statops.web.sign_in import sign_in_pages

    app.mount("/static/web", StaticFiles(directory=STATIC), name="web-static")
    app.include_router(sign_in_pages)
    app.include_router(pages)


__all__ = ["install_web"]
