"""/v1 monitoring: true codes for predictions (`POST .../feedback`) and a model version's latest signals
with its open alerts (`GET .../monitoring`). Each calls the library function the CLI calls
(`statops feedback add`, `statops monitor`), which checks the caller's role."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from statops.accounts import Actor, require
from statops.monitoring import add_feedback, monitor
from statops.monitoring.alerts import OPEN
from statops.monitoring.schedule import lookback
from statops.monitoring.schedule_lock import schedule_state
from statops.serving.auth import Permission
from statops.serving.governance_routes import ERRORS, READ_ERRORS, json_response
from statops.serving.schemas import NO_NUL

monitoring = APIRouter(prefix="/v1/models/{name}", tags=["monitoring"])

ANY_TOKEN = Depends(Permission(None))  # the library checks the action's role, for the CLI and HTTP alike
MAX_FEEDBACK_RECORDS = 10_000
ModelName = Annotated[str, Path(description="registered model name", examples=["occupation"],
                                pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$")]
#: a body route: no 409 (nothing clashes with a state), and 503 also when the store does not answer
FEEDBACK_ERRORS = {status: response for status, response in ERRORS.items() if status != 409}


class FeedbackRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, min_length=1, max_length=36, pattern=r"^[0-9A-Za-z\-]+$",
                           description="the prediction's `id`, as the predict route returned it")
    text: str | None = Field(default=None, min_length=1, max_length=10_000, pattern=NO_NUL,
                             description="or the text: the true code applies to every logged prediction of it")
    code: str = Field(min_length=1, max_length=100, pattern=NO_NUL,
                      description="the true code, in the model's classification")
    source: Literal["clerical", "audit-sample", "expert"] = Field(
        description="who coded it: a clerical coder, a random audit sample of auto-coded records (an unbiased "
                    "accuracy estimate), or an expert")

    @model_validator(mode="after")
    def _one_key(self) -> FeedbackRecord:
        if (self.id is None) == (self.text is None):
            raise ValueError("give either the prediction `id` or the `text`, not both and not neither")
        return self


class FeedbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    records: list[FeedbackRecord] = Field(min_length=1, max_length=MAX_FEEDBACK_RECORDS)


def _ws(request: Request) -> Any:
    return request.app.state.runtime.ws


@monitoring.post(
    "/feedback", status_code=201, responses=FEEDBACK_ERRORS,
    summary="True codes for predictions, by prediction id or by text (coder, modeller, approver, admin)",
    description="Each record names a logged prediction by its `id`, or gives a `text` (the code then applies to "
    "every logged prediction of that text), with the true `code` and its `source`. Every record is checked first "
    "(the id was logged for this model, the code is in the model's classification); a bad one gets 422 naming "
    "its index in `records` (`record N`, from 0), and nothing is written. As `statops feedback add`.")
def feedback(name: ModelName, body: FeedbackBody, request: Request, actor: Annotated[Actor, ANY_TOKEN]) -> Response:
    records = [{"id": r.id or "", "text": r.text or "", "code": r.code, "source": r.source} for r in body.records]
    added = add_feedback(_ws(request), actor, name, records, where="records", first_line=0, unit="record")
    return json_response({"model": added.model, "records": added.records, "by_source": added.by_source,
                          "by_prediction_id": added.by_prediction_id, "by_text": added.by_text}, 201)


@monitoring.get(
    "/monitoring", responses=READ_ERRORS,
    summary="A model version's latest monitoring signals and its open alerts (every role)",
    description="Computes the signals of the version's prediction log now, window by window, over the last "
    "7 days (by day), 4 weeks (by week) or 7 days (every N records) and the current window, as `statops monitor` "
    "does, without opening or resolving alerts (the schedule and `statops monitor` do that). `latest` is the "
    "newest window with records, `alerts` the model's open alerts, `schedule` the last scheduled run.")
def read_monitoring(
    name: ModelName, request: Request, actor: Annotated[Actor, ANY_TOKEN],
    version: Annotated[str | None, Query(description="a version number (default: production, else the latest)",
                                         pattern=r"^[1-9][0-9]{0,9}$")] = None,
    window: Annotated[str | None, Query(description="day, week, or a number of records, at least 2 (default: "
                                        "STATOPS_MONITOR_WINDOW)", pattern=r"^(day|week|[2-9]|[1-9][0-9]{1,8})$",
                                        examples=["day"])] = None,
) -> Response:
    ws = _ws(request)
    require(ws, actor, "monitoring.read")
    window = window or ws.settings.monitor_window
    now = datetime.now(UTC)
    result = monitor(ws, name, version, window, since=lookback(window, now), update_alerts_store=False, now=now)
    state = schedule_state(ws.store)
    schedule = None if state is None else {
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
