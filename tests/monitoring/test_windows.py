"""Cutting the log into windows, and what an empty window or a silent day gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from statops.errors import InvalidInput
from statops.monitoring.log_window import WindowSpec, windows
from statops.monitoring.reference import ReferenceProfile
from statops.monitoring.schedule import lookback
from statops.monitoring.signals import WindowInput, compute_signals
from statops.monitoring.statistics import ALERT, NOT_ENOUGH, OK
from statops.settings import Settings
from tests.conftest import sqlite_only

DAY0 = datetime(2025, 3, 3, 9, tzinfo=UTC)  # a Monday


def _records(days: list[int], per_day: int) -> pd.DataFrame:
    at = [DAY0 + timedelta(days=d, minutes=i) for d in days for i in range(per_day)]
    n = len(at)
    return pd.DataFrame({"at": pd.to_datetime(at, utc=True), "code": ["1115"] * n, "confidence": [0.5] * n,
                         "decision": ["review"] * n, "text_length": [20] * n})


def _reference() -> ReferenceProfile:
    rng = np.random.default_rng(0)
    return ReferenceProfile("test", 500, "", 0.9, 0.95, 0.0, {"1115": 500}, ["major", "unit"],
                            {"1115": {"major": "1", "unit": "1115"}}, False, ["chief"], ["chief executive"] * 10,
                            confidence=np.full(500, 0.5, dtype=np.float32),
                            text_length=rng.integers(18, 23, 500).astype(np.int32),
                            oov=np.zeros(500, dtype=np.float32))


def test_window_specs() -> None:
    assert WindowSpec.parse("week").kind == "week" and WindowSpec.parse("2000").records == 2000
    assert WindowSpec.parse("Quarter").kind == "quarter"
    for bad in ("year", "1", "-5", ""):
        with pytest.raises(InvalidInput, match="day, week, month or quarter"):
            WindowSpec.parse(bad)


def test_production_cycles_are_months_or_quarters_labelled_as_the_catalogue_labels_them() -> None:
    frame = _records([0, 20, 40, 100], 50)  # 3 Mar, 23 Mar, 12 Apr, 11 Jun 2025
    months = list(windows(frame, WindowSpec("month"), now=DAY0 + timedelta(days=101)))
    assert [w.label for w in months] == ["2025M03", "2025M04", "2025M05", "2025M06"]
    assert [w.size for w in months] == [100, 50, 0, 50]
    assert months[0].start == datetime(2025, 3, 1, tzinfo=UTC) and months[0].end == datetime(2025, 4, 1, tzinfo=UTC)
    assert [w.complete for w in months] == [True, True, True, False]
    quarters = list(windows(frame, WindowSpec("quarter"), now=DAY0 + timedelta(days=101)))
    assert [(w.label, w.size) for w in quarters] == [("2025Q1", 100), ("2025Q2", 100)]
    assert quarters[1].start == datetime(2025, 4, 1, tzinfo=UTC) and quarters[1].end == datetime(2025, 7, 1, tzinfo=UTC)
    assert lookback("quarter", DAY0) == datetime(2024, 1, 1, tzinfo=UTC)
    assert lookback("month", DAY0) == datetime(2024, 12, 1, tzinfo=UTC)
    assert lookback("week", DAY0) == DAY0.replace(hour=0) - timedelta(days=28)


def test_a_silent_day_is_an_empty_window_and_a_volume_drop() -> None:
    frame = _records([0, 1, 3], 200)
    days = list(windows(frame, WindowSpec("day"), now=DAY0 + timedelta(days=10)))
    assert [w.label for w in days] == ["2025-03-03", "2025-03-04", "2025-03-05", "2025-03-06"]
    assert [w.size for w in days] == [200, 200, 0, 200]
    weeks = list(windows(frame, WindowSpec("week"), now=DAY0 + timedelta(days=10)))
    assert [w.size for w in weeks] == [600]
    empty = compute_signals(WindowInput(days[2].records, [], pd.DataFrame(columns=["source", "decision"]), 200.0),
                            _reference(), Settings())
    statuses = {s.name: s.status for s in empty}
    assert statuses.pop("volume") == ALERT  # nothing where 200 were expected
    assert set(statuses.values()) == {NOT_ENOUGH}
    first = compute_signals(WindowInput(days[0].records, None, pd.DataFrame(columns=["source", "decision"])),
                            _reference(), Settings())
    assert {s.name: s.status for s in first}["volume"] == OK  # nothing to compare with yet


@pytest.mark.parametrize("reader", ["arrow", "arrow in halves", "python"])
def test_the_log_is_read_with_its_times_to_the_microsecond_and_in_order(workspace, monkeypatch, reader) -> None:  # noqa: ANN001
    from statops.monitoring import log_window
    from statops.monitoring.log_window import read_log_columns
    from statops.scoring.prediction_log import new_id, write_rows
    from statops.store import column_read

    if reader == "python":  # SQLite read in this process, without ADBC's driver (PostgreSQL has one way)
        sqlite_only(workspace, "reading in this process is SQLite's fallback")
        monkeypatch.setattr(column_read, "_HAS_SQLITE_DRIVER", False)
    if reader == "arrow in halves":  # a large window on SQLite: two processes read a half each
        sqlite_only(workspace, "only SQLite reads a window in halves")
        monkeypatch.setattr(log_window, "SPLIT_ROWS", 2)
    times = [datetime(2025, 3, 3, 9, 0, 0, 1, tzinfo=UTC), datetime(2025, 3, 3, 9, 0, 0, 999_999, tzinfo=UTC),
             datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)]
    write_rows(workspace.store, [
        {"id": new_id(), "at": at, "model": "m", "version": "1", "alias": None, "source": "api", "request_id": "r",
         "input_sha256": "0" * 64, "input_text": None, "text_length": n or None, "code": code,
         "confidence": 0.25 * n, "decision": decision, "alternatives": "[]", "requested_by": None}
        for n, (at, code, decision) in enumerate(zip(reversed(times), ["0123", "2", "9"], ["auto", "review", "auto"],
                                                     strict=True))])
    frame = read_log_columns(workspace.store, "m", "1")
    assert frame["at"].tolist() == [pd.Timestamp(t) for t in times]
    assert frame["code"].tolist() == ["9", "2", "0123"] and frame["decision"].tolist() == ["auto", "review", "auto"]
    assert frame["confidence"].tolist() == [0.5, 0.25, 0.0]
    assert frame["text_length"].tolist()[:2] == [2.0, 1.0] and pd.isna(frame["text_length"].iat[2])  # not kept
    since = read_log_columns(workspace.store, "m", "1", since=times[1], until=times[2])
    assert since["at"].tolist() == [pd.Timestamp(times[1])]
    empty = read_log_columns(workspace.store, "m", "2")
    assert empty.empty and list(empty.columns) == list(frame.columns)
