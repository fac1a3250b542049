"""The scheduled monitoring run's lock: one row of the store that every server process (every worker of
`statops serve --workers N`, every container on the same store) competes for, on SQLite and PostgreSQL
alike. A process takes the run with one conditional UPDATE — when no one holds it (or the holder's lease
has run out: it crashed) and the last run started at least one interval ago — so the run happens once per
interval, never twice at a time. The holder renews its lease as it goes and, when done, records the
outcome and a snapshot of what it found (the signals and open alerts that /metrics shows)."""

from __future__ import annotations

import json
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from statops.store import Store
from statops.store.schema import MonitoringSchedule, aware

TABLE: Any = MonitoringSchedule.__table__
RUN = "monitor"  # the row of the scheduled monitoring run; other scheduled runs (retraining) have their own
LEASE_SECONDS = 600.0  # a holder that stops renewing (it crashed, or hangs) frees the run after this


def holder_name() -> str:
    """Who competes for the run: host, process and a random part (a process may hold several schedulers)."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class ScheduleState:
    holder: str | None
    lease_until: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    outcome: str | None
    snapshot: dict[str, Any] | None


def _ensure_row(store: Store, run: str) -> None:
    try:
        with store.engine.begin() as connection:
            connection.execute(insert(TABLE).values(name=run))
    except IntegrityError:
        pass  # another process made it first


def claim(store: Store, holder: str, interval: float, now: datetime | None = None,
          lease: float = LEASE_SECONDS, first: bool = True, run: str = RUN) -> datetime | None:
    """Take the run for `holder` if no one holds it and it is due (the last run started `interval`
    seconds ago or more; with `first`, also when there never was one); the moment it was taken, or None.
    Concurrent claims: at most one wins."""
    now = now or datetime.now(UTC)
    with store.engine.connect() as connection:  # a read first: most checks find nothing to do, and take no lock
        row = connection.execute(select(TABLE.c.holder, TABLE.c.lease_until, TABLE.c.started_at)
                                 .where(TABLE.c.name == run)).first()
    if row is None:
        _ensure_row(store, run)
    else:
        lease_until, started_at = aware(row.lease_until), aware(row.started_at)
        free = row.holder is None or (lease_until is not None and lease_until < now)
        due = first if started_at is None else started_at <= now - timedelta(seconds=interval)
        if not (free and due):
            return None
    due = TABLE.c.started_at <= now - timedelta(seconds=interval)
    with store.engine.begin() as connection:
        taken = connection.execute(
            update(TABLE)
            .where(TABLE.c.name == run, or_(TABLE.c.holder.is_(None), TABLE.c.lease_until < now),
                   or_(TABLE.c.started_at.is_(None), due) if first else due)
            .values(holder=holder, lease_until=now + timedelta(seconds=lease), started_at=now))
        return now if taken.rowcount == 1 else None


def renew(store: Store, holder: str, lease: float = LEASE_SECONDS, run: str = RUN) -> bool:
    """Extend `holder`'s lease; False when it no longer holds the run."""
    with store.engine.begin() as connection:
        kept = connection.execute(update(TABLE).where(TABLE.c.name == run, TABLE.c.holder == holder)
                                  .values(lease_until=datetime.now(UTC) + timedelta(seconds=lease)))
        return kept.rowcount == 1


def release(store: Store, holder: str, outcome: str, snapshot: dict[str, Any] | None, run: str = RUN) -> bool:
    """Free the run, recording its outcome and (unless None: a failed run keeps the last one) its snapshot."""
    values: dict[str, Any] = {"holder": None, "lease_until": None, "finished_at": datetime.now(UTC),
                              "outcome": outcome[:2000]}
    if snapshot is not None:
        values["snapshot"] = json.dumps(snapshot, default=str)
    with store.engine.begin() as connection:
        freed = connection.execute(update(TABLE).where(TABLE.c.name == run, TABLE.c.holder == holder)
                                   .values(**values))
        return freed.rowcount == 1


def schedule_state(store: Store, run: str = RUN) -> ScheduleState | None:
    """The run's row: who holds it, its last run and snapshot; None before any server competed for it."""
    with store.engine.connect() as connection:
        row = connection.execute(select(TABLE).where(TABLE.c.name == run)).first()
    if row is None:
        return None
    return ScheduleState(row.holder, aware(row.lease_until), aware(row.started_at), aware(row.finished_at),
                         row.outcome, json.loads(row.snapshot) if row.snapshot else None)
