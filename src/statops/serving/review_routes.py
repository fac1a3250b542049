"""/v1 review: the clerical review queue over HTTP. `GET /v1/review/next` hands a coder the next item of a
model and locks it to them; `POST /v1/review/{id}` takes their answer (a code, `uncodable` or `skip`);
`POST /v1/review/{id}/release` gives an item back unanswered; `GET /v1/review/stats` is `statops review
stats`. Each calls the library function the CLI and the coding page call, which checks the caller's role."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from statops.accounts import Actor
from statops.errors import Conflict, InvalidInput, NotFound
from statops.review import decide_item, next_item, release_item, review_stats
from statops.review.aids import suggestion_choices
from statops.serving.auth import Permission
from statops.serving.governance_routes import ERRORS, READ_ERRORS, json_response
from statops.serving.schemas import NO_NUL

review = APIRouter(prefix="/v1/review", tags=["review"])

ANY_TOKEN = Depends(Permission(None))  # the library checks the action's role (review.code, review.read)
ModelQuery = Annotated[str, Query(description="registered model name", examples=["occupation"],
                                  pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$")]
ItemId = Annotated[int, Path(description="the review item's id, as `next` handed it out", ge=1, le=2**31 - 1)]


class Answer(BaseModel):
    """A coder's answer to a review item."""

    model_config = ConfigDict(extra="forbid")

    answer: str = Field(min_length=1, max_length=100, pattern=NO_NUL, examples=["2136"],
                        description="a code of the model's classification (an id of its reference base for a "
                                    "matcher, or `not-in-base` for a record the base lacks), `uncodable`, or `skip` "
                                    "(not shown to this coder again; another coder takes it)")
    seconds: float | None = Field(default=None, ge=0, lt=86_400, strict=True,
                                  description="how long the coder took over the item, in seconds")


def _ws(request: Request) -> Any:
    return request.app.state.runtime.ws


def item_body(ws: Any, item: Any) -> dict[str, Any]:
    body = item.as_dict()
    body["suggestions"] = [{**(s if isinstance(s, dict) else {"code": s}), "title": choice.title}
                           for s, choice in zip(item.suggestions, suggestion_choices(ws, item), strict=False)]
    return body


@review.get(
    "/next", responses={**READ_ERRORS, 204: {"description": "nothing is left in the queue for this coder"}},
    summary="The next review item of a model, locked to the caller (coder, modeller, approver, admin)",
    description="Audit items first, then the configured order (oldest, or least confident, first). The item is "
    "locked to the caller for STATOPS_REVIEW_LOCK_SECONDS; asking again while holding it returns the same item. "
    "Two coders never get the same item. 204 when nothing is left for the caller. `suggestions` are the model's "
    "top codes with their titles.")
def next_review_item(model: ModelQuery, request: Request, actor: Annotated[Actor, ANY_TOKEN]) -> Response:
    ws = _ws(request)
    item = next_item(ws, actor, model)
    if item is None:
        return Response(status_code=204)
    return json_response(item_body(ws, item))


@review.post(
    "/{item_id:int}", responses=ERRORS,
    summary="Answer a review item: a code, `uncodable` or `skip` (coder, modeller, approver, admin)",
    description="409 when the item is locked by someone else, is coded already, or the caller has answered it "
    "(their lock may have expired and another coder taken it), or for a code the model's classification lacks. "
    "A code becomes the prediction's true code for monitoring in the same transaction. A refused answer writes "
    "nothing.")
def answer_review_item(item_id: ItemId, body: Answer, request: Request,
                       actor: Annotated[Actor, ANY_TOKEN]) -> Response:
    try:
        decided = decide_item(_ws(request), actor, item_id, body.answer, body.seconds)
    except InvalidInput as exc:  # the schema checked the form: what is left is the classification
        raise Conflict(str(exc)) from None
    return json_response({"item_id": decided.item_id, "prediction_id": decided.prediction_id,
                          "coder": decided.coder, "outcome": decided.outcome, "code": decided.code,
                          "item_done": decided.item_done})


@review.post(
    "/{item_id:int}/release", responses=READ_ERRORS | {409: ERRORS[409]},
    summary="Give back a review item held by the caller, unanswered (coder, modeller, approver, admin)",
    description="The item returns to the queue at once instead of when the caller's lock expires.")
def release_review_item(item_id: ItemId, request: Request, actor: Annotated[Actor, ANY_TOKEN]) -> Response:
    if not release_item(_ws(request), actor, item_id):
        raise NotFound(f"review item {item_id} is not held by {actor.name}")
    return json_response({"item_id": item_id, "released": True})


@review.get(
    "/stats", responses=READ_ERRORS,
    summary="A model's review queue: done, left, per coder, agreement (kappa per level), time per item (every role)",
    description="As `statops review stats MODEL --json`.")
def review_queue_stats(model: ModelQuery, request: Request, actor: Annotated[Actor, ANY_TOKEN]) -> Response:
    return json_response(review_stats(_ws(request), actor, model).as_dict())
