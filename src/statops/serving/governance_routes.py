"""/v1 governance: gates, request-approval, approve, reject, promote, rollback, retire, states and
history. Each route calls the same library function as the CLI command of the same name, which
checks the caller's role (`statops.accounts.require`), so a role is enforced in one place."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from statops.accounts import Actor, require
from statops.errors import InvalidInput
from statops.registry.card import model_card
from statops.registry.gates import get_gates, set_gates
from statops.registry.governance import (
    approvals,
    decide,
    live_at,
    production_history,
    promote,
    request_approval,
    retire,
    rollback,
)
from statops.registry.states import version_states
from statops.registry.versions import registered_model
from statops.serving.auth import Permission
from statops.serving.problems import problem_responses
from statops.serving.schemas import NO_NUL

governance = APIRouter(prefix="/v1/models/{name}", tags=["governance"])

ANY_TOKEN = Depends(Permission(None))  # the library checks the action's role, for the CLI and HTTP alike
ModelName = Annotated[str, Path(description="registered model name", examples=["occupation"],
                                pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$")]
Version = Annotated[str, Path(description="version number", examples=["2"], pattern=r"^[1-9][0-9]{0,9}$")]
Reason = Annotated[str, Field(min_length=1, max_length=2000, pattern=NO_NUL,
                              description="why (recorded in the audit trail)")]
_UNCHECKED = problem_responses(503, description="the API token could not be checked (the store does not answer): "
                                                "retry after `Retry-After` seconds")
READ_ERRORS = {**problem_responses(401, 403, 404, 422), **_UNCHECKED}
#: a route with a body: also unreadable (400), slow (408), too large (413) or not JSON (415) bodies
ERRORS = {**problem_responses(400, 401, 403, 404, 408, 409, 413, 415, 422), **_UNCHECKED}


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body, default=str), status_code=status, media_type="application/json")


def _ws(request: Request) -> Any:
    return request.app.state.runtime.ws


class ReasonBody(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"reason": "cycle 2024 retrain"}})

    reason: Reason


class RequestApprovalBody(ReasonBody):
    on: str | None = Field(default=None, max_length=300, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*(@[1-9][0-9]*)?$",
                           description="evaluate on this dataset (NAME@N) now, and the production version too where "
                                       "a gate compares them; default: the version's newest evaluation, else its dev "
                                       "evaluation")


class ApproveBody(ReasonBody):
    override: str | None = Field(default=None, min_length=1, max_length=2000, pattern=NO_NUL,
                                 description="admins only: approve although gates failed, with this justification")


class PromoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=2000, pattern=NO_NUL)


class GatesBody(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "example": {"set": {"min.accuracy": 0.6, "max_drop.accuracy": 0.01}, "remove": [], "replace": False}})

    set: dict[Annotated[str, Field(max_length=200)], float] = Field(
        default_factory=dict, max_length=100, description="KIND.METRIC -> threshold (kinds: min, max, max_drop, "
                                                          "max_rise)")
    remove: list[Annotated[str, Field(max_length=200)]] = Field(default_factory=list, max_length=100)
    replace: bool = Field(default=False, description="replace every gate instead of adding to them")


def _moment(text: str) -> datetime:
    """An RFC 3339 or ISO 8601 moment as UTC-aware; a leap second counts as the second before it."""
    try:
        parsed = datetime.fromisoformat(re.sub(r":60(?=[.Z+\-]|$)", ":59", text.strip().upper()))
    except ValueError:
        raise InvalidInput(f"invalid `at` {text!r}: use an ISO date or time, e.g. 2025-06-30T12:00:00Z") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


@governance.get("/gates", responses=READ_ERRORS, summary="A model's quality gates")
def read_gates(name: ModelName, request: Request, actor: Annotated[Actor, ANY_TOKEN]) -> Response:
    ws = _ws(request)
    require(ws, actor, "models.read")
    registered_model(ws, name)
    return json_response({"model": name, "gates": get_gates(ws, name)})


@governance.put("/gates", responses=ERRORS, summary="Set a model's quality gates (approver, admin)")
def write_gates(name: ModelName, body: GatesBody, request: Request, actor: Annotated[Actor, ANY_TOKEN]) -> Response:
    gates = set_gates(_ws(request), actor, name, body.set, replace=body.replace, remove=tuple(body.remove))
    return json_response({"model": name, "gates": gates})


@governance.get("/versions", responses=READ_ERRORS, summary="Every version's lifecycle state and who trained it")
def states(name: ModelName, request: Request, actor: Annotated[Actor, ANY_TOKEN]) -> Response:
    ws = _ws(request)
    require(ws, actor, "models.read")
    found = version_states(ws, name)
    return json_response({"model": name, "versions": [found[v].as_dict() for v in sorted(found, key=int)]})


@governance.get("/versions/{version}/approvals", responses=READ_ERRORS,
                summary="A version's approval requests: gate results, the evaluation they came from, decisions")
def version_approvals(name: ModelName, version: Version, request: Request,
                      actor: Annotated[Actor, ANY_TOKEN]) -> Response:
    ws = _ws(request)
    require(ws, actor, "models.read")
    registered_model(ws, name)
    return json_response({"model": name, "version": version,
                          "approvals": [a.as_dict() for a in approvals(ws, name, version)]})


@governance.post("/versions/{version}/request-approval", responses=ERRORS,
                 summary="Put a candidate up for approval; its gates are checked and stored (modeller, admin)")
def ask(name: ModelName, version: Version, body: RequestApprovalBody, request: Request,
        actor: Annotated[Actor, ANY_TOKEN]) -> Response:
    return json_response(request_approval(_ws(request), actor, name, version, body.reason, body.on).as_dict())


@governance.post("/versions/{version}/approve", responses=ERRORS,
                 summary="Approve a pending version (an approver or admin who neither trained nor requested it)")
def approve(name: ModelName, version: Version, body: ApproveBody, request: Request,
            actor: Annotated[Actor, ANY_TOKEN]) -> Response:
    return json_response(decide(_ws(request), actor, name, version, True, body.reason, body.override).as_dict())


@governance.post("/versions/{version}/reject", responses=ERRORS,
                 summary="Reject a pending version (an approver or admin who neither trained nor requested it)")
def reject(name: ModelName, version: Version, body: ReasonBody, request: Request,
           actor: Annotated[Actor, ANY_TOKEN]) -> Response:
    return json_response(decide(_ws(request), actor, name, version, False, body.reason).as_dict())


@governance.post("/versions/{version}/promote", responses=ERRORS,
                 summary="Make an approved version production (approver, admin)")
def make_production(name: ModelName, version: Version, body: PromoteBody, request: Request,
                    actor: Annotated[Actor, ANY_TOKEN]) -> Response:
    return json_response(promote(_ws(request), actor, name, version, body.reason).as_dict())


@governance.post("/rollback", responses=ERRORS,
                 summary="Put the version with alias `previous` back into production (approver, admin)")
def roll_back(name: ModelName, body: ReasonBody, request: Request, actor: Annotated[Actor, ANY_TOKEN]) -> Response:
    return json_response(rollback(_ws(request), actor, name, body.reason).as_dict())


@governance.post("/versions/{version}/retire", responses=ERRORS,
                 summary="Retire a version: refused from then on, with the reason (approver, admin)")
def withdraw(name: ModelName, version: Version, body: ReasonBody, request: Request,
             actor: Annotated[Actor, ANY_TOKEN]) -> Response:
    return json_response(retire(_ws(request), actor, name, version, body.reason).as_dict())


@governance.get("/versions/{version}/card", responses={**READ_ERRORS, 200: {"content": {
    "text/markdown": {"schema": {"type": "string"}}, "text/html": {"schema": {"type": "string"}}},
    "description": "the model card, as Markdown or as one self-contained HTML page"}},
                summary="A version's model card: use, data, quality by level, limitations, gates, decisions")
def card(name: ModelName, version: Version, request: Request, actor: Annotated[Actor, ANY_TOKEN],
         format: Annotated[Literal["markdown", "html"], Query(description="markdown or html")] = "markdown",
         ) -> Response:
    found = model_card(_ws(request), actor, name, version)
    if format == "html":
        return Response(found.html(), media_type="text/html; charset=utf-8")
    return Response(found.markdown(), media_type="text/markdown; charset=utf-8")


@governance.get("/history", responses=READ_ERRORS,
                summary="The periods each version was in production, or with `at` the version live then")
def history(name: ModelName, request: Request, actor: Annotated[Actor, ANY_TOKEN],
            at: Annotated[str | None, Query(description="a moment, RFC 3339 / ISO 8601 (UTC when no zone is given)",
                                            max_length=64, examples=["2025-06-30T12:00:00Z"],
                                            json_schema_extra={"format": "date-time"})] = None) -> Response:
    ws = _ws(request)
    require(ws, actor, "models.read")
    registered_model(ws, name)
    if at is not None:
        moment = _moment(at)
        span = live_at(ws, name, moment)
        return json_response({"model": name, "at": moment.isoformat(), "live": span.as_dict() if span else None})
    return json_response({"model": name, "periods": [s.as_dict() for s in production_history(ws, name)]})
