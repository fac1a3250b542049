"""Retraining on a schedule inside `statops serve`: every STATOPS_RETRAIN_SCHEDULE_SECONDS one server
process (the same row lock and lease as scheduled monitoring, on its own row) takes each model whose
production version has open monitoring alerts, exports its coded review items as dataset
`MODEL-reviewed` and retrains with `--if-needed`: a challenger is put up for approval only when it pays.
The human step stays approval."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from statops.accounts import Actor
from statops.errors import StatopsError
from statops.monitoring.schedule import MonitorScheduler
from statops.pipelines.retrain import open_alerts, retrain
from statops.registry.versions import PRODUCTION_ALIAS, list_models, resolve_model
from statops.review.stats import export_review
from statops.workspace import Workspace

log = logging.getLogger("statops.pipelines.schedule")

LOCK = "retrain"  # the schedule's row in the store's schedule table
SCHEDULE_ROLE = "modeller"  # what the schedule may do: export review items, train, request approval


def _one(ws: Workspace, actor: Actor, model: str) -> dict[str, Any]:
    champion = resolve_model(ws, model)
    entry: dict[str, Any] = {"model": model, "version": champion.version, "ran": False, "proposed": False,
                             "new_version": None, "error": None}
    if champion.alias != PRODUCTION_ALIAS:
        return {**entry, "reasons": [f"{champion.describe()} is not in production: nothing to retrain"]}
    if not open_alerts(ws, champion):
        return {**entry, "reasons": [f"not needed: no open monitoring alerts for {champion.describe()}"]}
    try:
        export = export_review(ws, actor, model, f"{model}-reviewed"[:100])
        outcome = retrain(ws, actor, model, [export.dataset.ref], if_needed=True)
    except StatopsError as exc:  # no coded items yet, nothing new: said, not a failure of the schedule
        return {**entry, "reasons": [str(exc)]}
    return {**entry, "ran": outcome.ran, "proposed": outcome.proposed, "new_version": outcome.version,
            "run_id": outcome.run_id, "reasons": outcome.reasons}


def scheduled_retrain(ws: Workspace, now: datetime | None = None,
                      keep_going: Callable[[], bool] = lambda: True) -> dict[str, Any]:
    """One scheduled round over every registered model (see the module's docstring); a model that fails
    is noted and the others go on. Returns the snapshot the schedule's row keeps."""
    started = now or datetime.now(UTC)
    clock = time.monotonic()
    actor = Actor(ws.actor, SCHEDULE_ROLE, "schedule")
    entries = []
    for model in list_models(ws):
        if not keep_going():
            raise RuntimeError("the run was stopped, or its lease taken over, before it finished")
        try:
            entries.append(_one(ws, actor, model.name))
        except Exception as exc:
            log.warning("scheduled retraining of model %s failed: %s: %s", model.name, type(exc).__name__, exc)
            entries.append({"model": model.name, "ran": False, "proposed": False, "reasons": [],
                            "error": f"{type(exc).__name__}: {exc}"[:500]})
    return {"started_at": started.isoformat(), "finished_at": datetime.now(UTC).isoformat(),
            "duration_seconds": round(time.monotonic() - clock, 3), "models": entries}


def retrain_scheduler(ws: Workspace) -> MonitorScheduler:
    """The retraining schedule of one server process (start() it with the server, stop() it on shutdown);
    off unless STATOPS_RETRAIN_SCHEDULE_SECONDS is set above 0."""
    return MonitorScheduler(ws, ws.settings.retrain_schedule_seconds, run=scheduled_retrain, lock=LOCK,
                            label="retraining")
