"""The prediction log: every prediction, online or batch, written to our store.

Online, rows go through `PredictionLogWriter`: a bounded in-memory queue drained by one background
thread that bulk-inserts every `flush_seconds` or `batch_rows` rows, off the request path. A failed
write is retried (the rows stay queued), counted and logged; it never fails a request. When the
queue is full a request waits for room rather than have its rows dropped: what the API acknowledged
is written. Closing the writer flushes everything.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import pandas as pd
from sqlalchemy import JSON, Table, column, delete, func, insert, select, table
from sqlalchemy.types import TypeDecorator

from statops.errors import StatopsError
from statops.registry.versions import ModelVersionRef
from statops.scoring.predict import Columns
from statops.store import Store
from statops.store.schema import PredictionLogEntry
from statops.tasks import ANSWER_COLUMNS

log = logging.getLogger("statops.scoring.prediction_log")

TABLE: Table = PredictionLogEntry.__table__  # type: ignore[assignment]


class _JSONText(TypeDecorator[Any]):
    """A JSON column written from JSON text as it is: the model made it already, and parsing it
    only to have it dumped again costs more per row than the insert itself."""

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Any) -> None:
        return None


# What the writer inserts through: the log table, with `alternatives` taken as JSON text.
_INSERT_INTO = table(TABLE.name, *(column(c.name, _JSONText() if c.name == "alternatives" else c.type)
                                   for c in TABLE.columns))
_MS_MASK = (1 << 48) - 1


def new_id() -> str:
    """A time-ordered UUID (version 7 layout: 48-bit milliseconds, then 74 random bits).

    The random bits need to be unique, not secret: Python's generator (seeded from the OS in each
    process) is 15 times faster than os.urandom, which is measurable at thousands of ids a second.
    """
    rand = random.getrandbits(74)
    value = ((time.time_ns() // 1_000_000) & _MS_MASK) << 80 | 0x7 << 76 | ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62 | (rand & ((1 << 62) - 1))
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def prediction_rows(
    ref: ModelVersionRef,
    texts: Sequence[str],
    predictions: Columns,
    *,
    source: str,
    request_id: str,
    keep_text: bool,
    ids: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Log rows for `texts` and their predictions (the task's answer columns). `alternatives`
    stay the JSON text the model made (parsed ones are dumped)."""
    at = datetime.now(UTC)
    ids = ids if ids is not None else [new_id() for _ in texts]
    columns = {name: predictions[name] for name in ANSWER_COLUMNS}
    alternatives = [a if isinstance(a, str) else orjson.dumps(a).decode() for a in columns["alternatives"]]
    return [
        {"id": row_id, "at": at, "model": ref.name, "version": ref.version, "alias": ref.alias,
         "source": source, "request_id": request_id, "input_sha256": text_sha256(text),
         "input_text": text if keep_text else None, "code": code, "confidence": confidence,
         "decision": decision, "alternatives": alts}
        for row_id, text, code, confidence, decision, alts in zip(
            ids, texts, columns["code"], columns["confidence"], columns["decision"], alternatives,
            strict=True)
    ]


def write_rows(store: Store, rows: list[dict[str, Any]]) -> None:
    """Insert log rows in one transaction (a bulk insert)."""
    if rows:
        with store.engine.begin() as connection:
            connection.execute(insert(_INSERT_INTO), rows)


def delete_request(store: Store, request_id: str) -> int:
    """Remove the rows of one request or batch job (a batch that failed writes nothing)."""
    with store.engine.begin() as connection:
        return int(connection.execute(delete(TABLE).where(TABLE.c.request_id == request_id)).rowcount)


def read_predictions(store: Store, model: str | None = None, version: str | None = None,
                     since: datetime | None = None, until: datetime | None = None,
                     limit: int | None = None) -> pd.DataFrame:
    """Logged predictions, oldest first, for monitoring and review: optionally of one model (and
    version) and in a time window [since, until)."""
    query = select(TABLE)
    if model is not None:
        query = query.where(TABLE.c.model == model)
    if version is not None:
        query = query.where(TABLE.c.version == version)
    if since is not None:
        query = query.where(TABLE.c.at >= since)
    if until is not None:
        query = query.where(TABLE.c.at < until)
    query = query.order_by(TABLE.c.at, TABLE.c.id)
    if limit is not None:
        query = query.limit(limit)
    with store.engine.connect() as connection:
        return pd.DataFrame(connection.execute(query).mappings().all(), columns=[c.name for c in TABLE.columns])


def count_predictions(store: Store, model: str | None = None) -> int:
    """How many predictions the log holds (of one model, if given)."""
    query = select(func.count()).select_from(TABLE)
    if model is not None:
        query = query.where(TABLE.c.model == model)
    with store.engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


class LogBackpressure(StatopsError):
    """The prediction log cannot keep up: the request was not answered, so nothing is lost."""

    http_status = 503


class PredictionLogWriter:
    """Bounded queue + background bulk writer. `submit` never blocks while there is room."""

    def __init__(self, store: Store, *, batch_rows: int = 2000, flush_seconds: float = 0.1,
                 queue_rows: int = 200_000, wait_seconds: float = 10.0):
        self.store = store
        self.batch_rows = batch_rows
        self.flush_seconds = flush_seconds
        self.queue_rows = queue_rows
        self.wait_seconds = wait_seconds
        self._pending: deque[dict[str, Any]] = deque()
        self._cond = threading.Condition()
        self._backlog = 0  # rows accepted and not yet committed (queued or being written)
        self._closing = False
        self._abandon = False
        self.written_rows = 0
        self.failed_writes = 0
        self.waits = 0
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="statops-prediction-log", daemon=True)

    # -- state -------------------------------------------------------------------------------
    @property
    def backlog(self) -> int:
        return self._backlog

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> PredictionLogWriter:
        self._thread.start()
        return self

    # -- producers ---------------------------------------------------------------------------
    def _room_for(self, n: int) -> bool:
        # One request larger than the whole queue is still taken when the queue is empty.
        return self._backlog == 0 or self._backlog + n <= self.queue_rows

    def _accept(self, rows: list[dict[str, Any]]) -> None:
        if self._closing:
            raise LogBackpressure("the server is shutting down; the prediction log takes no more rows")
        was_empty = not self._pending
        self._pending.extend(rows)
        self._backlog += len(rows)
        if was_empty or len(self._pending) >= self.batch_rows:
            self._cond.notify_all()

    def try_submit(self, rows: list[dict[str, Any]]) -> bool:
        """Queue rows if there is room now; False (nothing queued) when the queue is full."""
        with self._cond:
            if not self._room_for(len(rows)):
                return False
            self._accept(rows)
            return True

    def submit(self, rows: list[dict[str, Any]]) -> None:
        """Queue rows, waiting up to `wait_seconds` for room; LogBackpressure if there is none."""
        with self._cond:
            if not self._room_for(len(rows)):
                self.waits += 1
                if not self._cond.wait_for(lambda: self._room_for(len(rows)) or self._closing,
                                           self.wait_seconds):
                    raise LogBackpressure(
                        f"the prediction log is {self._backlog:,} rows behind; try again shortly")
            self._accept(rows)

    # -- the writer thread -------------------------------------------------------------------
    def _take_batch(self) -> list[dict[str, Any]] | None:
        with self._cond:
            while not self._pending and not self._closing:
                self._cond.wait()
            if not self._pending:
                return None  # closing, and everything is written
            # Let rows gather for one interval so that inserts are few and large.
            deadline = time.monotonic() + self.flush_seconds
            while len(self._pending) < self.batch_rows and not self._closing:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            count = min(self.batch_rows, len(self._pending))
            return [self._pending.popleft() for _ in range(count)]

    def _run(self) -> None:
        backoff = 0.2
        while not self._abandon:
            batch = self._take_batch()
            if batch is None:
                return
            try:
                write_rows(self.store, batch)
            except Exception as exc:  # the database is down or refuses: keep the rows, retry
                with self._cond:
                    self._pending.extendleft(reversed(batch))
                    self.failed_writes += 1
                    self.last_error = f"{type(exc).__name__}: {exc}"[:500]
                log.error("prediction log write of %d rows failed (retrying in %.1f s): %s",
                          len(batch), backoff, self.last_error)
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.2
            with self._cond:
                self._backlog -= len(batch)
                self.written_rows += len(batch)
                self._cond.notify_all()

    def close(self, timeout: float = 30.0) -> int:
        """Stop taking rows and write everything queued; returns the rows that could not be written."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._thread.is_alive():
            self._abandon = True
            log.error("prediction log: %d rows could not be written before shutdown: %s",
                      self._backlog, self.last_error)
        return self._backlog
