"""Monitoring on a schedule inside `statops serve`: a daemon thread per server process wakes a few times
per interval and, when the shared run is due and free (statops.monitoring.schedule_lock), computes every
registered model's signals, stores its alerts and records a snapshot for /metrics. It never blocks a
request (its own thread; the store's lock is a row, not a table), and a failure — the store or the
registry unreachable, a model without a reference — is logged and the run tried again later."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from statops.monitoring.alerts import OPEN
from statops.monitoring.log_window import WindowSpec, period_starts
from statops.monitoring.monitor import MonitoringResult, monitor
from statops.monitoring.schedule_lock import RUN, claim, holder_name, release, renew, schedule_state
from statops.workspace import Workspace

log = logging.getLogger("statops.monitoring.schedule")

LOOKBACK_WINDOWS = {"day": 7, "week": 4, "month": 3, "quarter": 4}  # complete windows before the current one
LOOKBACK_RECORDS = timedelta(days=7)  # for windows of N records
SNAPSHOT_SECONDS = 5.0  # how long a process keeps the stored snapshot before reading it again


def lookback(window: str, now: datetime) -> datetime:
    """Where a scheduled (or HTTP) run starts reading the log: enough whole days or weeks before the
    current one for the volume signal's median, or a week for windows of N records."""
    spec = WindowSpec.parse(window)
    if spec.kind == "records":
        return now - LOOKBACK_RECORDS
    current = period_starts(pd.Series([pd.Timestamp(now)]), spec.kind).iloc[0]
    if spec.kind in ("day", "week"):
        step = pd.Timedelta(days=1 if spec.kind == "day" else 7)
        return (current - step * LOOKBACK_WINDOWS[spec.kind]).to_pydatetime()
    months = LOOKBACK_WINDOWS[spec.kind] * (1 if spec.kind == "month" else 3)
    return (current - pd.DateOffset(months=months)).to_pydatetime()


def model_entry(result: MonitoringResult) -> dict[str, Any]:
    """What the snapshot keeps of one model's run: the latest window's signals and the open alerts."""
    latest = result.latest
    return {
        "model": result.model, "version": result.version, "window": latest.label if latest else None,
        "records": latest.records if latest else 0, "status": result.status, "note": result.note,
        "signals": [{"name": s.name, "value": s.value, "status": s.status} for s in (latest.signals if latest else [])],
        "open_alerts": [{"version": a.version, "signal": a.signal} for a in result.history if a.state == OPEN],
        "error": None,
    }


def run_all(ws: Workspace, now: datetime | None = None, keep_going: Callable[[], bool] = lambda: True,
            ) -> dict[str, Any]:
    """Every registered model's signals (its production version, else its latest) since the lookback,
    alerts opened and resolved; a model that cannot be monitored is noted, the others go on."""
    from statops.registry.versions import list_models

    started = now or datetime.now(UTC)
    clock = time.monotonic()
    window = ws.settings.monitor_window
    since = lookback(window, started)
    entries = []
    for model in list_models(ws):
        if not keep_going():
            raise RuntimeError("the run was stopped, or its lease taken over, before it finished")
        try:
            entries.append(model_entry(monitor(ws, model.name, window=window, since=since, now=started)))
        except Exception as exc:
            log.warning("scheduled monitoring of model %s failed: %s: %s", model.name, type(exc).__name__, exc)
            entries.append({"model": model.name, "version": None, "signals": [], "open_alerts": [],
                            "error": f"{type(exc).__name__}: {exc}"[:500]})
    return {"started_at": started.isoformat(), "finished_at": datetime.now(UTC).isoformat(),
            "duration_seconds": round(time.monotonic() - clock, 3), "window": window, "models": entries}


class MonitorScheduler:
    """The schedule of one server process: every `interval` seconds (0: never) one process of all those on
    the store runs `run_all` (or `run`, under its own `lock` row: the retraining schedule is one too);
    this one when it wins the claim. `snapshot()` is the last completed run's, whichever process ran it."""

    def __init__(self, ws: Workspace, interval: float, run: Callable[..., dict[str, Any]] = run_all,
                 lock: str = RUN, label: str = "monitoring"):
        self.ws = ws
        self.lock, self.label = lock, label
        self.interval = interval
        self.holder = holder_name()
        self.runs: Counter[str] = Counter({"ok": 0, "failed": 0})  # runs this process did
        self._run = run
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._snapshot: dict[str, Any] | None = None
        self._snapshot_read = float("-inf")
        self._failing = False
        self._lock = threading.Lock()
        self._born = time.monotonic()

    @property
    def tick_seconds(self) -> float:
        """How often the process checks whether the run is due: a tenth of the interval, 0.2 s to 30 s."""
        return min(max(self.interval / 10, 0.2), 30.0)

    def start(self) -> MonitorScheduler:
        if self.interval > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=f"statops-{self.lock}", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 1.0) -> None:
        """Ask the thread to stop; a run under way ends at its next model (the lease frees the row anyway)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self.tick_seconds):
            self.tick()

    def tick(self) -> bool:
        """Run if due and free; True when this process ran (successfully or not). Never raises."""
        # A process's first interval only catches up on an overdue run, so that servers which come and go
        # (tests, a restart) do not each start one; the first ever run comes one interval after start-up.
        first = time.monotonic() - self._born >= self.interval
        try:
            started = claim(self.ws.store, self.holder, self.interval, first=first, run=self.lock)
        except Exception as exc:
            self._failed(f"could not reach the store to check the {self.label} schedule", exc)
            return False
        if started is None:
            return False
        try:
            snapshot = self._run(self.ws, started, self._keep_going)
        except Exception as exc:
            self.runs["failed"] += 1
            self._failed(f"the scheduled {self.label} run failed", exc)
            self._release(f"failed: {type(exc).__name__}: {exc}", None)
            return True
        self.runs["ok"] += 1
        failed = [m["model"] for m in snapshot["models"] if m.get("error")]
        outcome = f"ok ({len(snapshot['models'])} models" + (f"; failed: {', '.join(failed)})" if failed else ")")
        if self._release(outcome, snapshot):
            with self._lock:
                self._snapshot, self._snapshot_read = snapshot, time.monotonic()
        log.info("scheduled %s run: %s in %.1f s", self.label, outcome, snapshot["duration_seconds"])
        if self._failing:
            self._failing = False
            log.info("scheduled %s works again", self.label)
        return True

    def _keep_going(self) -> bool:
        return not self._stop.is_set() and renew(self.ws.store, self.holder, run=self.lock)

    def _release(self, outcome: str, snapshot: dict[str, Any] | None) -> bool:
        try:
            return release(self.ws.store, self.holder, outcome, snapshot, run=self.lock)
        except Exception as exc:  # the lease runs out by itself
            self._failed(f"could not record the {self.label} run", exc)
            return False

    def _failed(self, what: str, exc: Exception) -> None:
        orig = getattr(exc, "orig", None) or exc  # the driver's error, without the statement
        message = f"{what}: {type(orig).__name__}: {str(orig).splitlines()[0][:300] if str(orig) else ''}"
        if self._failing:
            log.debug(message)  # said once until it works again
        else:
            log.error(message + "; trying again in %g s", self.tick_seconds)
        self._failing = True

    def snapshot(self) -> dict[str, Any] | None:
        """The last completed run's snapshot (from the store at most every few seconds; the last one read
        when the store does not answer)."""
        with self._lock:
            if time.monotonic() - self._snapshot_read < SNAPSHOT_SECONDS:
                return self._snapshot
            self._snapshot_read = time.monotonic()
        try:
            state = schedule_state(self.ws.store, self.lock)
        except Exception as exc:
            log.debug("could not read the %s snapshot: %s", self.label, type(exc).__name__)
            return self._snapshot
        with self._lock:
            if state is not None and state.snapshot is not None:
                self._snapshot = state.snapshot
            return self._snapshot
