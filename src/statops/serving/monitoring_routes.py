"""/v1 monitoring: true codes for predictions (`POST .../feedback`) and a model version's latest signals
with its open alerts (`GET .../monitoring`). Each calls the library function the CLI calls
(`statops feedback add`, `statops monitor`), which checks the caller's role."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from statops.accounts import Actor, require
from statops.errors import Conflict, InvalidInput
from statops.monitoring import add_feedback, monitor
from statops.monitoring.alerts import OPEN
from statops.monitoring.schedule import lookback
from statops.monitoring.schedule_lock import schedule_state
from statops.serving.auth import Permission
from statops.serving.governance_routes import ERRORS, READ_ERRORS, json_response
from statops.serving.problems import problem_responses
from statops.serving.schemas import NO_NUL

monitoring = APIRouter(prefix="/v1/models/{name}", tags=["monitoring"])

ANY_TOKEN = Depends(Permission(None))  # the library checks the action's role, for the CLI and HTTP alike
MAX_FEEDBACK_RECORDS = 10_000
ModelName = Annotated[str, Path(description="registered model name", examples=["occupation"],
                                pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$")]
#: a record that is well formed but disagrees with the store is a 409: its validity depends on the log and the
#: classification, not on the request alone (422 is for records the schema refuses)
FEEDBACK_ERRORS = {**ERRORS, **problem_responses(409, description=(
    "a record names a prediction id this model never logged, or a code its classification lacks; the detail "
    "names each such record by its index in `records` (`record N`, from 0); nothing was written"))}


Source = Annotated[Literal["clerical", "audit-sample", "expert"], Field(
    description="who coded it: a clerical coder, a random audit sample of auto-coded records (an unbiased accuracy "
                "estimate), or an expert")]
Code = Annotated[str, Field(min_length=1, max_length=100, pattern=NO_NUL,
                            description="the true code, in the model's classification")]


class FeedbackById(BaseModel):
    """A true code for one logged prediction."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=36, pattern=r"^[0-9A-Za-z\-]+$",
                    description="the prediction's `id`, as the predict route returned it")
    code: Code
    source: Source


class FeedbackByText(BaseModel):
    """A true code for a text: it applies to every logged prediction of that text."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=10_000, pattern=NO_NUL, description="the input text")
    code: Code
    source: Source


def _keyed_by(record: Any) -> str:
    """Which kind a record is: by its prediction id when it has one (then a `text` is refused), else by text."""
    has_id = "id" in record if isinstance(record, dict) else hasattr(record, "id")
    return "by_id" if has_id else "by_text"


FeedbackRecord = Annotated[Annotated[FeedbackById, Tag("by_id")] | Annotated[FeedbackByText, Tag("by_text")],
                           Discriminator(_keyed_by)]


class FeedbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    records: list[FeedbackRecord] = Field(
        min_length=1, max_length=MAX_FEEDBACK_RECORDS, description="each with the prediction `id` or the `text`")


def _ws(request: Request) -> Any:
    return request.app.state.runtime.ws


@monitoring.post(
    "/feedback", status_code=201, responses=FEEDBACK_ERRORS,
    summary="True codes for predictions, by prediction id or by text (coder, modeller, approver, admin)",
    description="Each record names a logged prediction by its `id`, or gives a `text` (the code then applies to "
    "every logged prediction of that text), with the true `code` and its `source`. Every record is checked first "
    "(the id was logged for this model, the code is in the model's classification); one that is not gets 409 "
    "naming its index in `records` (`record N`, from 0), and nothing is written. As `statops feedback add`.")
def feedback(name: ModelName, body: FeedbackBody, request: Request, actor: Annotated[Actor, ANY_TOKEN]) -> Response:
    records = [{"id": getattr(r, "id", ""), "text": getattr(r, "text", ""), "code": r.code, "source": r.source}
               for r in body.records]
    try:
        added = add_feedback(_ws(request), actor, name, records, where="records", first_line=0, unit="record")
    except InvalidInput as exc:  # the schema checked the form: what is left is the log and the classification
        raise Conflict(str(exc)) from None
    return json_response({"model": added.model, "records": added.records, "by_source": added.by_source,
                          "by_prediction_id": added.by_prediction_id, "by_text": added.by_text}, 201)


@monitoring.get(
    "/monitoring", responses=READ_ERRORS,
    summary="A model version's latest monitoring signals and its open alerts (every role)",
    description="Computes the signals of the version's prediction log now, window by window, over the last "
    "7 days (by day), 4 weeks, 3 months, 4 quarters or 7 days (every N records) and the current window, as "
    "`statops monitor` does, without opening or resolving alerts (the schedule and `statops monitor` do that). "
    "`latest` is the newest window with records, `alerts` the model's open alerts, `schedule` the last scheduled run.")
def read_monitoring(
    name: ModelName, request: Request, actor: Annotated[Actor, ANY_TOKEN],
    version: Annotated[str | None, Query(description="a version number (default: production, else the latest)",
                                         pattern=r"^[1-9][0-9]{0,9}$")] = None,
    window: Annotated[str | None, Query(description="day, week, month or quarter (a production cycle), or a number "
                                        "of records, at least 2 (default: STATOPS_MONITOR_WINDOW)",
                                        pattern=r"^(day|week|month|quarter|[2-9]|[1-9][0-9]{1,8})$",
                                        examples=["day"])] = None,
) -> Response:
    ws = _ws(request)
    require(ws, actor, "monitoring.read")
    window = window or ws.settings.monitor_window
    now = datetime.now(UTC)
    result = monitor(ws, name, version, window, since=lookback(window, now), update_alerts_store=False, now=now)
    state = schedule_state(ws.store)
    schedule = None if state is None or state.started_at is None else {  # None: no scheduled run yet
        "started_at": state.started_at, "finished_at": state.finished_at, "outcome": state.outcome,
        "running": state.holder is not None}
    latest = result.latest
    return json_response({
        "model": result.model, "version": result.version, "window": result.window, "status": result.status,
        "note": result.note, "reference": result.reference.summary(),
        "latest": latest.as_dict() if latest else None,
        "windows": [{"label": w.label, "start": w.start, "end": w.end, "records": w.records, "status": w.status}
                    for w in result.windows],
        "alerts": [a.as_dict() for a in result.history if a.state == OPEN],
        "schedule": schedule,
    })
