"""The coding page: a signed-in coder gets the next item of a model's review queue (locked to them), the
model's top suggestions with their titles, a search over the classification, and answers with the
keyboard (1-5 pick, Enter confirms, u uncodable, s skip; n 'not in the base' for a matcher). Each answer is
`statops.review.decide_item`, the function the HTTP API and the CLI use; how long it took is measured from
when the page was shown."""

from __future__ import annotations

import time
from typing import Annotated, Any
from urllib.parse import quote_plus

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from statops.accounts import allowed
from statops.accounts.sessions import SignedIn
from statops.data.answers import NOT_IN_BASE, none_answer
from statops.errors import Conflict, InvalidInput, NotFound
from statops.review import SKIP, UNCODABLE, decide_item, next_item
from statops.review.aids import coder_pace, queues, search_codes, suggestion_choices
from statops.review.decisions import item_answers
from statops.web.forms import csrf_ok, read_form
from statops.web.rendering import HEADERS, message, page, signed_in, to_sign_in, ws_of

pages = APIRouter(include_in_schema=False)
ModelName = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$")]
ItemId = Annotated[int, Path(ge=1, le=2**31 - 1)]
ACTIONS = ("code", UNCODABLE, SKIP, NOT_IN_BASE)


def _refused(session: SignedIn) -> Response:
    return message("Not allowed", f"Your role ({session.actor.role}) may not code review items; ask an "
                   "admin for the coder role.", 403, session)


@pages.get("/review")
async def review_index(request: Request) -> Response:
    session = await signed_in(request)
    if session is None:
        return to_sign_in(request)
    if not allowed(session.actor.role, "review.code"):
        return _refused(session)
    overview = await run_in_threadpool(queues, ws_of(request))
    return page("review_index.html", signed=session, queues=overview)


@pages.get("/review/{model}")
async def review_item(request: Request, model: ModelName,
                      q: Annotated[str, Query(max_length=200)] = "", error: str = "") -> Response:
    session = await signed_in(request)
    if session is None:
        return to_sign_in(request)
    if not allowed(session.actor.role, "review.code"):
        return _refused(session)
    ws = ws_of(request)

    def gather() -> dict[str, Any]:
        item = next_item(ws, session.actor, model)
        found: dict[str, Any] = {"item": item, "pace": coder_pace(ws, session.actor, model)}
        if item is not None:
            suggestions = suggestion_choices(ws, item)
            shown = {c.code for c in suggestions}
            found |= {"suggestions": suggestions,
                      "results": [c for c in search_codes(ws, item, q) if c.code not in shown],
                      "none_answer": none_answer(item_answers(ws, item.model, item.version))}
        return found

    try:
        found = await run_in_threadpool(gather)
    except NotFound as exc:
        return message("No such model", str(exc), 404, session, ("/review", "All queues"))
    return page("review_item.html", signed=session, model=model, q=q, error=error[:300],
                shown_at=int(time.time() * 1000), **found)


@pages.post("/review/{model}/{item_id}")
async def answer_item(request: Request, model: ModelName, item_id: ItemId) -> Response:
    session = await signed_in(request)
    if session is None:
        return message("Signed out", "Your session has ended, so this answer was not saved; sign in "
                       "again and take the item again.", 401, None, (f"/sign-in?next=/review/{model}", "Sign in"))
    try:
        form = await read_form(request)
    except InvalidInput as exc:
        return message("Answer refused", str(exc), 400, session)
    if not csrf_ok(form, session.csrf):
        return message("Answer refused", "The form did not carry this session's token (it may come from "
                       "another site, or an older sign-in); nothing was saved.", 403, session,
                       (f"/review/{model}", "Back to the queue"))
    action = form.field("action") or "code"
    if action not in ACTIONS:
        return message("Answer refused", f"unknown action '{action[:20]}'", 400, session)
    answer = action if action != "code" else (form.field("typed").strip() or form.field("code").strip())
    if not answer:
        return RedirectResponse(f"/review/{model}?error=Pick+a+suggestion+(1-5)+or+type+a+code", 303, headers=HEADERS)
    seconds = _seconds_since(form.field("shown_at"))
    try:
        await run_in_threadpool(decide_item, ws_of(request), session.actor, item_id, answer, seconds)
    except InvalidInput as exc:
        return RedirectResponse(f"/review/{model}?error={_quote(str(exc))}", 303, headers=HEADERS)
    except (Conflict, NotFound) as exc:
        return message("Answer not saved", str(exc), 409, session, (f"/review/{model}", "Next item"))
    return RedirectResponse(f"/review/{model}", 303, headers=HEADERS)


def _seconds_since(shown_at: str) -> float | None:
    """Seconds since the page was shown (its time in ms), or None when that is missing or implausible."""
    try:
        seconds = time.time() - int(shown_at) / 1000
    except ValueError:
        return None
    return round(seconds, 1) if 0 <= seconds < 86_400 else None


def _quote(text: str) -> str:
    return quote_plus(text[:300])
