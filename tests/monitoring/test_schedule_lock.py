"""The scheduled monitoring run's lock on SQLite and PostgreSQL: concurrent claims let one through, a held
run is skipped, a run is due once per interval, a crashed holder's lease runs out, and a scheduler whose
store does not answer logs it and carries on."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from statops import Workspace
from statops.monitoring.schedule import MonitorScheduler, lookback
from statops.monitoring.schedule_lock import claim, release, renew, schedule_state
from statops.store import Store


def test_concurrent_claims_let_exactly_one_through(workspace: Workspace) -> None:
    store = workspace.store
    holders = [f"worker-{i}" for i in range(6)]
    won: list[str] = []
    start = threading.Barrier(len(holders))

    def compete(holder: str) -> None:
        start.wait()
        if claim(store, holder, 3600) is not None:
            won.append(holder)

    threads = [threading.Thread(target=compete, args=(h,)) for h in holders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(won) == 1
    state = schedule_state(store)
    assert state is not None and state.holder == won[0] and state.lease_until is not None


def test_a_held_run_is_skipped_and_a_run_is_due_once_per_interval(workspace: Workspace) -> None:
    store = workspace.store
    assert claim(store, "a", 60, first=False) is None  # never ran: a process's first interval waits
    started = claim(store, "a", 60)
    assert started is not None
    assert claim(store, "b", 0) is None  # held: skipped, even when due
    assert not renew(store, "b") and renew(store, "a")
    assert not release(store, "b", "ok", {"models": []})
    assert release(store, "a", "ok (0 models)", {"finished_at": "2026-01-01T00:00:00+00:00", "models": []})
    state = schedule_state(store)
    assert state is not None and state.holder is None and state.outcome == "ok (0 models)"
    assert state.snapshot == {"finished_at": "2026-01-01T00:00:00+00:00", "models": []}
    assert state.started_at == started
    assert claim(store, "b", 60) is None  # ran less than an interval ago
    assert claim(store, "b", 60, now=started + timedelta(seconds=59)) is None
    assert claim(store, "b", 60, now=started + timedelta(seconds=61), first=False) is not None
    assert release(store, "b", "failed: registry down", None)
    state = schedule_state(store)
    assert state is not None and state.outcome == "failed: registry down"
    assert state.snapshot == {"finished_at": "2026-01-01T00:00:00+00:00", "models": []}  # a failure keeps it


def test_a_crashed_holders_lease_runs_out(workspace: Workspace) -> None:
    store = workspace.store
    now = datetime.now(UTC)
    assert claim(store, "crashed", 0, now=now, lease=30) is not None
    assert claim(store, "other", 0, now=now + timedelta(seconds=29)) is None
    assert claim(store, "other", 0, now=now + timedelta(seconds=31)) is not None
    assert not renew(store, "crashed")  # it lost the run


def test_two_schedulers_on_one_store_never_run_at_once(workspace: Workspace) -> None:
    running, overlaps, runs = [0], [0], []
    guard = threading.Lock()

    def slow_run(ws: Any, started: datetime, keep_going: Any) -> dict[str, Any]:
        with guard:
            running[0] += 1
            overlaps[0] = max(overlaps[0], running[0])
        time.sleep(0.5)
        assert keep_going()
        with guard:
            running[0] -= 1
        runs.append(started)
        return {"started_at": started.isoformat(), "finished_at": datetime.now(UTC).isoformat(),
                "duration_seconds": 0.5, "models": []}

    schedulers = [MonitorScheduler(workspace, 0.05, run=slow_run) for _ in range(3)]
    for scheduler in schedulers:
        scheduler._born -= 1  # past their first interval
    start = threading.Barrier(len(schedulers))

    def ticks(scheduler: MonitorScheduler) -> None:
        start.wait()
        for _ in range(10):
            scheduler.tick()
            time.sleep(0.02)

    threads = [threading.Thread(target=ticks, args=(s,)) for s in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert overlaps[0] == 1
    assert len(runs) >= 2  # one after the other
    assert sum(s.runs["ok"] for s in schedulers) == len(runs)
    assert all(s.snapshot() is not None for s in schedulers)  # every process sees the last run's snapshot


def test_a_store_that_does_not_answer_is_logged_and_tried_again(tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    unreachable = SimpleNamespace(store=Store(f"sqlite:///{tmp_path}/missing/folder/store.db"))
    scheduler = MonitorScheduler(unreachable, 1)  # type: ignore[arg-type]
    with caplog.at_level(logging.DEBUG, "statops.monitoring.schedule"):
        assert scheduler.tick() is False
        assert scheduler.tick() is False
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "could not reach the store" in errors[0].getMessage()  # said once
    assert scheduler.snapshot() is None
    assert scheduler.runs == {"ok": 0, "failed": 0}


def test_lookback_covers_the_volume_baseline() -> None:
    now = datetime(2026, 3, 12, 15, 30, tzinfo=UTC)  # a Thursday
    assert lookback("day", now) == datetime(2026, 3, 5, tzinfo=UTC)
    assert lookback("week", now) == datetime(2026, 2, 9, tzinfo=UTC)  # a Monday, four weeks before this week's
    assert lookback("2000", now) == now - timedelta(days=7)
