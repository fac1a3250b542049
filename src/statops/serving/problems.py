"""Errors as RFC 9457 problem details: StatopsError -> its 4xx, anything unexpected -> 500."""

from __future__ import annotations

import email.message
import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.routing import Match

from statops.errors import InvalidInput, StatopsError, Unauthenticated
from statops.serving.schemas import NO_NUL, Problem

log = logging.getLogger("statops.serving")

PROBLEM_JSON = "application/problem+json"
BEARER_CHALLENGE = 'Bearer realm="statops"'  # WWW-Authenticate of a 401 (RFC 6750)


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


def error_response(exc: StatopsError, instance: str | None) -> Response:
    """The problem for a StatopsError: its status, with `Retry-After` on a 503 and the bearer
    challenge on a 401."""
    headers = None
    if exc.http_status == 503:
        headers = {"Retry-After": "1"}
    elif isinstance(exc, Unauthenticated):
        headers = {"WWW-Authenticate": getattr(exc, "challenge", BEARER_CHALLENGE)}
    return problem_response(exc.http_status, str(exc), instance, headers=headers)


def _field(location: tuple[Any, ...] | list[Any]) -> str:
    """('body', 'records', 3, 'text') -> 'records[3].text'; ('query', 'version') -> 'version'."""
    parts = list(location[1:]) if location and location[0] in ("body", "query", "path") else list(location)
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def validation_problem(request: Request, exc: RequestValidationError) -> Response:
    """422 naming each invalid field; 400 for a body that is not JSON; 415 for a body sent as another type."""
    problems = exc.errors()
    unparsed = next((e for e in problems if e.get("type") == "json_invalid"), None)
    if unparsed is not None:
        position = unparsed.get("loc", ("body", "?"))[-1]
        why = (unparsed.get("ctx") or {}).get("error", "invalid JSON")
        return problem_response(400, f"the body is not valid JSON: {why} (at position {position})",
                                request.url.path)
    if _body_of_another_type(request, problems):
        sent = request.headers.get("content-type") or "no content type"
        return problem_response(415, f"the body must be JSON sent as application/json, not {sent}",
                                request.url.path)
    errors = [{"field": _field(e.get("loc", ())), "message": _message(e)} for e in problems]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    if len(errors) > 5:
        detail += f"; and {len(errors) - 5} more"
    return problem_response(422, detail, request.url.path, errors)


def _message(error: Any) -> str:
    if error.get("type") == "string_pattern_mismatch" and (error.get("ctx") or {}).get("pattern") == NO_NUL:
        return "must not contain NUL characters (\\u0000)"
    return str(error.get("msg", "invalid"))


def _is_json(content_type: str | None) -> bool:
    """application/json or application/*+json, with or without parameters (as FastAPI parses them)."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def _body_of_another_type(request: Request, problems: Sequence[Any]) -> bool:
    """FastAPI leaves a body it did not parse as JSON as bytes, which then fails validation."""
    return (not _is_json(request.headers.get("content-type"))
            and any(e.get("loc", ())[:1] == ("body",) and isinstance(e.get("input"), bytes) for e in problems))


def _methods_of(request: Request) -> list[str]:
    """Every method some route of the request's path answers."""
    methods = []
    for method in ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            methods.append(method)
    return methods


def install_problem_handlers(app: FastAPI) -> None:
    """Every error the API returns is application/problem+json."""

    @app.exception_handler(StatopsError)
    async def statops_error(request: Request, exc: StatopsError) -> Response:
        return error_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        return validation_problem(request, exc)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).description
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route {request.method} {request.url.path}; see /docs"
        elif exc.status_code == 400 and exc.__cause__ is not None:  # FastAPI could not read the body
            detail = f"the body could not be read as JSON: {type(exc.__cause__).__name__}: {exc.__cause__}"[:500]
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # Starlette names only the first route of the path; a path may have several
            headers["Allow"] = ", ".join(_methods_of(request))
        return problem_response(exc.status_code, detail, request.url.path, headers=headers)

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem_response(500, f"internal error ({type(exc).__name__}); this is a bug, see the server log",
                                request.url.path)


WHEN = {
    400: "the body is not JSON (or not UTF-8)",
    401: "no API token, or one that is not valid (unknown, expired, revoked, or its user disabled); "
         "`WWW-Authenticate: Bearer`",
    403: "the token's role may not take this action (the detail names the roles that may)",
    404: "unknown model, version or alias",
    408: "the body did not arrive within STATOPS_SERVE_BODY_TIMEOUT_SECONDS of the headers",
    409: "version retired or cannot be loaded, or the alias names another version than `version`",
    413: "too many records or too large a body",
    415: "the body is not sent as application/json",
    422: "invalid body or parameter (`errors` names each field)",
    503: "the predictions could not be committed to the prediction log in time (store slow, locked or down), "
         "the API token could not be checked (store down), or the server is stopping: nothing was answered; "
         "retry after `Retry-After` seconds",
}


def problem_responses(*statuses: int, model: type[Problem] = Problem,
                      description: str | None = None) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the given error statuses, each an application/problem+json body."""
    ref = {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        responses[status] = {"model": model, "description": description or WHEN.get(status, HTTPStatus(status).phrase),
                             "content": {PROBLEM_JSON: ref}}
        if status == 503 and model is Problem:  # what the StatopsError handler sends with a 503
            responses[status]["headers"] = {"Retry-After": {
                "description": "seconds to wait before retrying", "schema": {"type": "integer", "minimum": 0}}}
        elif status == 401:
            responses[status]["headers"] = {"WWW-Authenticate": {
                "description": "the bearer challenge (RFC 6750)", "schema": {"type": "string"}}}
    return responses
