"""Errors as RFC 9457 problem details: StatopsError -> its 4xx, anything unexpected -> 500."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from statops.errors import InvalidInput, StatopsError
from statops.serving.schemas import Problem

log = logging.getLogger("statops.serving")

PROBLEM_JSON = "application/problem+json"


class PayloadTooLarge(InvalidInput):
    """More records, or a larger body, than the server accepts."""

    http_status = 413


def problem_response(status: int, detail: str, instance: str | None = None,
                     errors: list[dict[str, Any]] | None = None,
                     headers: Mapping[str, str] | None = None) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status,
                            "detail": detail, "instance": instance}
    if errors is not None:
        body["errors"] = errors
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field(location: tuple[Any, ...] | list[Any]) -> str:
    """('body', 'records', 3, 'text') -> 'records[3].text'; ('query', 'version') -> 'version'."""
    parts = list(location[1:]) if location and location[0] in ("body", "query", "path") else list(location)
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def validation_problem(request: Request, exc: RequestValidationError) -> Response:
    errors = [{"field": _field(e.get("loc", ())), "message": e.get("msg", "invalid")} for e in exc.errors()]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    if len(errors) > 5:
        detail += f"; and {len(errors) - 5} more"
    return problem_response(422, detail, request.url.path, errors)


def install_problem_handlers(app: FastAPI) -> None:
    """Every error the API returns is application/problem+json."""

    @app.exception_handler(StatopsError)
    async def statops_error(request: Request, exc: StatopsError) -> Response:
        headers = {"Retry-After": "1"} if exc.http_status == 503 else None
        return problem_response(exc.http_status, str(exc), request.url.path, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        return validation_problem(request, exc)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).description
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route {request.method} {request.url.path}; see /docs"
        return problem_response(exc.status_code, detail, request.url.path, headers=exc.headers)

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem_response(500, f"internal error ({type(exc).__name__}); this is a bug, see the server log",
                                request.url.path)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the given error statuses."""
    what = {
        404: "unknown model, version or alias", 409: "version retired or cannot be loaded",
        413: "too many records or too large a body", 422: "invalid body or parameter (names the field)",
        503: "not ready, or the prediction log is too far behind (retry)",
    }
    return {status: {"model": Problem, "description": what.get(status, HTTPStatus(status).phrase),
                     "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            for status in statuses}
