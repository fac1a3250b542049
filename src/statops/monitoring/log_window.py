"""Reading the prediction log for monitoring: only the columns the signals need, vectorised, and the
texts of a bounded random sample; cut into windows by day, by week, or every N records."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import func, select

from statops.errors import InvalidInput
from statops.scoring.prediction_log import TABLE
from statops.store import Store

COLUMNS = ("at", "code", "confidence", "decision", "text_length")
_SAMPLE_DIGITS = 4  # the last hex digits of a time-ordered id are random: a cheap, portable sample


@dataclass(frozen=True)
class WindowSpec:
    """How the log is cut: 'day', 'week', or every `records` records."""

    kind: str  # day, week, records
    records: int = 0

    @classmethod
    def parse(cls, text: str) -> WindowSpec:
        text = text.strip().lower()
        if text in ("day", "week"):
            return cls(text)
        if text.isdigit() and int(text) >= 2:
            return cls("records", int(text))
        raise InvalidInput(f"invalid window '{text}': use day, week or a number of records (at least 2)")

    def describe(self) -> str:
        return f"every {self.records:,} records" if self.kind == "records" else f"by {self.kind}"


@dataclass
class Window:
    """One window of the log: its records (the COLUMNS) and where it starts and ends."""

    label: str
    start: datetime | None
    end: datetime | None  # exclusive for day and week windows; the last record's time otherwise
    records: pd.DataFrame
    complete: bool = True  # False for the day or week still under way
    offset: int | None = None  # for a window of N records: its first record's position in the log read

    @property
    def size(self) -> int:
        return len(self.records)


def read_log_columns(store: Store, model: str, version: str | None, since: datetime | None = None,
                     until: datetime | None = None) -> pd.DataFrame:
    """The log's `at`, `code`, `confidence`, `decision` and the input's length (None where no text was kept),
    oldest first."""
    query = select(TABLE.c.at, TABLE.c.code, TABLE.c.confidence, TABLE.c.decision,
                   func.length(TABLE.c.input_text).label("text_length")).where(TABLE.c.model == model)
    if version is not None:
        query = query.where(TABLE.c.version == version)
    if since is not None:
        query = query.where(TABLE.c.at >= since)
    if until is not None:
        query = query.where(TABLE.c.at < until)
    query = query.order_by(TABLE.c.at, TABLE.c.id)
    with store.engine.connect() as connection:
        rows = connection.execute(query).all()
    frame = pd.DataFrame.from_records(rows, columns=list(COLUMNS), coerce_float=True)
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    frame["confidence"] = frame["confidence"].astype(float)
    frame["text_length"] = pd.to_numeric(frame["text_length"], errors="coerce")
    frame["code"] = frame["code"].astype(str)
    return frame


def sample_texts(store: Store, model: str, version: str | None, window: Window, wanted: int,
                 since: datetime | None = None, until: datetime | None = None) -> list[str]:
    """About `wanted` logged input texts drawn at random from `window` (those whose id ends in a hex
    number under a bound), without bringing the others out of the database. A window of N records is
    found again by its offset in the log's order (its rows may share times with the next window's)."""
    query = select(TABLE.c.id, TABLE.c.input_text).where(TABLE.c.model == model)
    if version is not None:
        query = query.where(TABLE.c.version == version)
    if window.offset is not None:  # the same rows, in the same order, as read_log_columns read
        if since is not None:
            query = query.where(TABLE.c.at >= since)
        if until is not None:
            query = query.where(TABLE.c.at < until)
        query = query.order_by(TABLE.c.at, TABLE.c.id).offset(window.offset).limit(window.size)
    else:
        if window.start is not None:
            query = query.where(TABLE.c.at >= window.start)
        if window.end is not None:
            query = query.where(TABLE.c.at < window.end)
    rows = query.subquery()
    sampled = select(rows.c.input_text).where(rows.c.input_text.is_not(None))
    share = min(1.0, 1.5 * wanted / max(window.size, 1))  # a margin: the draw is binomial
    if share < 1.0:
        bound = f"{math.ceil(share * 16**_SAMPLE_DIGITS):0{_SAMPLE_DIGITS}x}"
        sampled = sampled.where(func.substr(rows.c.id, 37 - _SAMPLE_DIGITS, _SAMPLE_DIGITS) < bound)
    with store.engine.connect() as connection:
        texts = [t for (t,) in connection.execute(sampled)]
    if len(texts) > wanted:
        rng = np.random.default_rng(len(texts))
        texts = [texts[i] for i in np.sort(rng.choice(len(texts), wanted, replace=False))]
    return texts


def _period_start(moment: pd.Timestamp, kind: str) -> pd.Timestamp:
    day = moment.floor("D")
    return day - pd.Timedelta(days=day.weekday()) if kind == "week" else day


def windows(frame: pd.DataFrame, spec: WindowSpec, now: datetime | None = None) -> Iterator[Window]:
    """`frame` (oldest first) cut into windows; days and weeks with no records in between are yielded
    empty, so that a silent day shows as a volume of zero."""
    if frame.empty:
        return
    now = now or datetime.now(UTC)
    if spec.kind == "records":
        for first in range(0, len(frame), spec.records):
            part = frame.iloc[first:first + spec.records]
            last = first + len(part)
            yield Window(f"records {first + 1:,}-{last:,}", part["at"].iloc[0].to_pydatetime(),
                         part["at"].iloc[-1].to_pydatetime(), part, complete=len(part) == spec.records,
                         offset=first)
        return
    step = pd.Timedelta(days=7 if spec.kind == "week" else 1)
    starts = frame["at"].dt.floor("D")
    if spec.kind == "week":
        starts = starts - pd.to_timedelta(starts.dt.weekday, unit="D")
    bounds = np.searchsorted(starts.to_numpy(), starts.drop_duplicates().to_numpy())
    groups = dict(zip(starts.iloc[bounds], [*bounds[1:], len(frame)], strict=True))
    first = _period_start(frame["at"].iloc[0], spec.kind)
    last = _period_start(frame["at"].iloc[-1], spec.kind)
    period, offsets = first, dict(zip(starts.iloc[bounds], bounds, strict=True))
    while period <= last:
        begin = offsets.get(period)
        part = frame.iloc[begin:groups[period]] if begin is not None else frame.iloc[0:0]
        end = period + step
        label = f"{period:%Y-%m-%d}" if spec.kind == "day" else f"week of {period:%Y-%m-%d}"
        yield Window(label, period.to_pydatetime(), end.to_pydatetime(), part,
                     complete=end.to_pydatetime() <= now)
        period = period + step


def elapsed_share(window: Window, now: datetime | None = None) -> float:
    """How much of a day or week window has passed (1 for a complete one)."""
    if window.complete or window.start is None or window.end is None:
        return 1.0
    now = now or datetime.now(UTC)
    total = (window.end - window.start) / timedelta(seconds=1)
    return min(1.0, max(0.0, (now - window.start) / timedelta(seconds=1) / total))
