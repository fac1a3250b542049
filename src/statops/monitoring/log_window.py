"""Reading the prediction log for monitoring: only the columns the signals need, vectorised, and the
texts of a bounded random sample; cut into windows by day, by week, by production cycle (month or
quarter, labelled as the catalogue labels cycles: 2025M03, 2025Q1), or every N records."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from typing import cast as cast_type

import numpy as np
import pandas as pd
from sqlalchemy import Float, Select, String, case, cast, func, select, type_coerce

from statops.errors import InvalidInput
from statops.scoring.prediction_log import TABLE, in_window
from statops.store import Store
from statops.store.column_read import ColumnReader
from statops.store.schema import aware

COLUMNS = ("id", "at", "code", "confidence", "decision", "text_length")
DECISIONS = ["review", "auto"]  # the decision column's categories: 0 review, 1 auto
_LOOKUPS = 500  # ids a query looks up at once
SPLIT_ROWS = 200_000  # a window of this many rows or more is read in two halves at once on SQLite


PERIODS = ("day", "week", "month", "quarter")  # month and quarter: production cycles


@dataclass(frozen=True)
class WindowSpec:
    """How the log is cut: 'day', 'week', 'month', 'quarter', or every `records` records."""

    kind: str  # day, week, month, quarter, records
    records: int = 0

    @classmethod
    def parse(cls, text: str) -> WindowSpec:
        text = text.strip().lower()
        if text in PERIODS:
            return cls(text)
        if text.isdigit() and int(text) >= 2:
            return cls("records", int(text))
        raise InvalidInput(f"invalid window '{text}': use day, week, month or quarter (a production cycle), or "
                           "a number of records (at least 2)")

    def describe(self) -> str:
        if self.kind == "records":
            return f"every {self.records:,} records"
        return f"by {self.kind}" + (" (production cycle)" if self.kind in ("month", "quarter") else "")


@dataclass
class Window:
    """One window of the log: its records (the COLUMNS) and where it starts and ends."""

    label: str
    start: datetime | None
    end: datetime | None  # exclusive for day and week windows; the last record's time otherwise
    records: pd.DataFrame
    complete: bool = True  # False for the day or week still under way
    end_inclusive: bool = False  # a window of N records ends at its last record's time

    @property
    def size(self) -> int:
        return len(self.records)


def read_log_columns(store: Store, model: str, version: str | None, since: datetime | None = None,
                     until: datetime | None = None, reader: ColumnReader | None = None) -> pd.DataFrame:
    """The log's `id`, `at`, `code`, `confidence`, `decision` and the input's length (None in rows logged
    before the length was kept), oldest first: read from the log's monitoring index alone."""
    query = select(TABLE.c.id, TABLE.c.at, type_coerce(TABLE.c.code, String).label("code"),
                   cast(TABLE.c.confidence, Float).label("confidence"),
                   case((TABLE.c.decision == "auto", 1), else_=0).label("auto"),
                   # -1 for no length: a driver that infers a column's type from its first rows sees integers
                   func.coalesce(TABLE.c.text_length, -1).label("text_length"))
    parts = [in_window(query, model, version, start, end).order_by(TABLE.c.at, TABLE.c.id)
             for start, end in _halves(store, model, version, since, until)]
    with nullcontext(reader) if reader is not None else ColumnReader(store) as columns:
        frame = columns.read_parts(parts, times=("at",))
    frame["confidence"] = frame["confidence"].astype(float)
    frame["decision"] = pd.Categorical.from_codes(frame.pop("auto").to_numpy(dtype=np.int8), DECISIONS)
    lengths = frame["text_length"].to_numpy(dtype=float)
    frame["text_length"] = np.where(lengths < 0, np.nan, lengths)
    return frame[list(COLUMNS)]


def _halves(store: Store, model: str, version: str | None, since: datetime | None,
            until: datetime | None) -> list[tuple[datetime | None, datetime | None]]:
    """[since, until) as two halves of its time span, for a large window on SQLite (each half is then
    read by a process of its own, on two cores at once); else as it is."""
    if store.engine.dialect.name != "sqlite":
        return [(since, until)]
    with store.engine.connect() as connection:
        bounds = cast_type("Select[Any]", select(func.count(), func.min(TABLE.c.at), func.max(TABLE.c.at)))
        rows, first, last = connection.execute(in_window(bounds, model, version, since, until)).one()
    if rows < SPLIT_ROWS or first is None or last is None or first >= last:
        return [(since, until)]
    middle = aware(first) + (aware(last) - aware(first)) / 2
    return [(since, middle), (middle, until)]


def sample_texts(store: Store, window: Window, wanted: int) -> list[str]:
    """About `wanted` logged input texts of `window`'s records drawn at random (by their ids, each text
    looked up by its key: the other texts are never read). Records logged without their text give none."""
    ids = window.records["id"].to_numpy()
    if len(ids) > wanted:
        ids = ids[np.sort(np.random.default_rng(len(ids)).choice(len(ids), wanted, replace=False))]
    texts: list[str] = []
    with store.engine.connect() as connection:
        for first in range(0, len(ids), _LOOKUPS):
            query = select(TABLE.c.input_text).where(TABLE.c.id.in_(ids[first:first + _LOOKUPS].tolist()),
                                                     TABLE.c.input_text.is_not(None))
            texts += [t for (t,) in connection.execute(query)]
    return texts


def period_starts(at: pd.Series, kind: str) -> pd.Series:
    """The start of the day, week (Monday), month or quarter of each time (UTC)."""
    days = at.dt.floor("D")
    if kind == "day":
        return days
    if kind == "week":
        return days - pd.to_timedelta(days.dt.weekday, unit="D")
    months = days.dt.month if kind == "month" else days.dt.month - (days.dt.month - 1) % 3
    return pd.to_datetime(pd.DataFrame({"year": days.dt.year, "month": months, "day": 1})).dt.tz_localize(UTC)


def next_period(start: pd.Timestamp, kind: str) -> pd.Timestamp:
    if kind in ("day", "week"):
        return start + pd.Timedelta(days=1 if kind == "day" else 7)
    return start + pd.DateOffset(months=1 if kind == "month" else 3)


def period_label(start: pd.Timestamp, kind: str) -> str:
    """As the catalogue labels production cycles: 2025-03-03, week of 2025-03-03, 2025M03, 2025Q1."""
    if kind == "day":
        return f"{start:%Y-%m-%d}"
    if kind == "week":
        return f"week of {start:%Y-%m-%d}"
    return f"{start.year}M{start.month:02d}" if kind == "month" else f"{start.year}Q{(start.month - 1) // 3 + 1}"


def windows(frame: pd.DataFrame, spec: WindowSpec, now: datetime | None = None) -> Iterator[Window]:
    """`frame` (oldest first) cut into windows; days and weeks with no records in between are yielded
    empty, so that a silent day shows as a volume of zero."""
    if frame.empty:
        return
    now = now or datetime.now(UTC)
    if spec.kind == "records":
        for first in range(0, len(frame), spec.records):
            part = frame.iloc[first:first + spec.records]
            yield Window(f"records {first + 1:,}-{first + len(part):,}", part["at"].iloc[0].to_pydatetime(),
                         part["at"].iloc[-1].to_pydatetime(), part, complete=len(part) == spec.records,
                         end_inclusive=True)
        return
    starts = period_starts(frame["at"], spec.kind)
    bounds = np.searchsorted(starts.astype("int64").to_numpy(), starts.drop_duplicates().astype("int64").to_numpy())
    groups = dict(zip(starts.iloc[bounds], [*bounds[1:], len(frame)], strict=True))
    period, last = starts.iloc[0], starts.iloc[-1]
    offsets = dict(zip(starts.iloc[bounds], bounds, strict=True))
    while period <= last:
        begin = offsets.get(period)
        part = frame.iloc[begin:groups[period]] if begin is not None else frame.iloc[0:0]
        end = next_period(period, spec.kind)
        yield Window(period_label(period, spec.kind), period.to_pydatetime(), end.to_pydatetime(), part,
                     complete=end.to_pydatetime() <= now)
        period = end


def elapsed_share(window: Window, now: datetime | None = None) -> float:
    """How much of a day or week window has passed (1 for a complete one)."""
    if window.complete or window.start is None or window.end is None:
        return 1.0
    now = now or datetime.now(UTC)
    total = (window.end - window.start) / timedelta(seconds=1)
    return min(1.0, max(0.0, (now - window.start) / timedelta(seconds=1) / total))
