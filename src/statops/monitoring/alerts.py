"""Stored alerts: a signal in `alert` opens one, unless one is open for it already (de-duplicated); it
resolves when the signal is `ok` again (a warning or too little data leaves it as it is)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from statops.monitoring.signals import Signal
from statops.monitoring.statistics import ALERT, OK
from statops.store.schema import MonitoringAlert, aware
from statops.workspace import Workspace

OPEN, RESOLVED = "open", "resolved"


@dataclass(frozen=True)
class AlertRecord:
    id: int
    model: str
    version: str
    signal: str
    state: str
    value: float | None
    threshold: float | None
    message: str
    window: str
    opened_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.__dict__.items()}


@dataclass
class AlertChanges:
    """What one monitoring run changed: alerts opened and resolved, and those open after it."""

    opened: list[AlertRecord] = field(default_factory=list)
    resolved: list[AlertRecord] = field(default_factory=list)
    open: list[AlertRecord] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: [a.as_dict() for a in getattr(self, k)] for k in ("opened", "resolved", "open")}


def _record(row: MonitoringAlert) -> AlertRecord:
    return AlertRecord(row.id, row.model, row.version, row.signal, row.state, row.value, row.threshold,
                       row.message, row.window, aware(row.opened_at), aware(row.last_seen_at),  # type: ignore[arg-type]
                       aware(row.resolved_at))


def _message(signal: Signal, window: str) -> str:
    value = "-" if signal.value is None else f"{signal.value:.4g}"
    reference = "" if signal.reference is None else f" (reference {signal.reference:.4g})"
    return f"{signal.name} = {value}{reference} in {window}: {signal.threshold}; {signal.note}".strip("; ")


def update_alerts(ws: Workspace, model: str, version: str, window: str, signals: list[Signal]) -> AlertChanges:
    """Open, refresh and resolve `model`/`version`'s alerts from the signals of its latest window. Two runs
    at once (a server's schedule and `statops monitor` from cron) open an alert once: the store keeps one
    open alert per signal, and the run that lost the race reads the other's and tries again."""
    try:
        return _update_alerts(ws, model, version, window, signals)
    except IntegrityError:
        return _update_alerts(ws, model, version, window, signals)


def _update_alerts(ws: Workspace, model: str, version: str, window: str, signals: list[Signal]) -> AlertChanges:
    now = datetime.now(UTC)
    changes = AlertChanges()
    with ws.store.session() as session:
        rows = session.scalars(select(MonitoringAlert).where(
            MonitoringAlert.model == model, MonitoringAlert.version == version, MonitoringAlert.state == OPEN)).all()
        open_by_signal = {row.signal: row for row in rows}
        for signal in signals:
            row = open_by_signal.get(signal.name)
            if signal.status == ALERT and row is None:
                row = MonitoringAlert(model=model, version=version, signal=signal.name, state=OPEN,
                                      value=signal.value, threshold=signal.alert, message=_message(signal, window),
                                      window=window, opened_at=now, last_seen_at=now)
                session.add(row)
                session.flush()
                open_by_signal[signal.name] = row
                ws.store.audit(session, ws.actor, "monitoring.alert", f"{model}/{version}", after=OPEN,
                               signal=signal.name, value=signal.value, window=window)
                changes.opened.append(_record(row))
            elif signal.status == ALERT and row is not None:
                row.last_seen_at, row.value, row.message = now, signal.value, _message(signal, window)
            elif signal.status == OK and row is not None:
                row.state, row.resolved_at, row.last_seen_at = RESOLVED, now, now
                ws.store.audit(session, ws.actor, "monitoring.resolve", f"{model}/{version}", before=OPEN,
                               after=RESOLVED, signal=signal.name, value=signal.value, window=window)
                changes.resolved.append(_record(row))
                del open_by_signal[signal.name]
        session.flush()
        changes.open = sorted((_record(r) for r in open_by_signal.values()), key=lambda a: a.opened_at)
    return changes


def list_alerts(ws: Workspace, model: str, state: str | None = None, limit: int = 200) -> list[AlertRecord]:
    """`model`'s alerts, newest first (only open or resolved ones, with `state`)."""
    query = select(MonitoringAlert).where(MonitoringAlert.model == model)
    if state is not None:
        query = query.where(MonitoringAlert.state == state)
    with ws.store.session() as session:
        rows = session.scalars(query.order_by(MonitoringAlert.opened_at.desc()).limit(limit)).all()
        return [_record(r) for r in rows]
