"""The prediction log: every prediction, online or batch, written to our store.

Online, an answer waits for its rows to be committed (group commit): requests hand their rows to
`PredictionLogWriter` and await them; one background thread commits whatever is waiting as soon
as its previous commit ends, so concurrent requests share one transaction and one fsync. What the
API answered is therefore in the log, even after a crash. A request whose rows are not committed
within `wait_seconds` (the store is slow, locked or down) gets `LogBackpressure` (503) instead of
an answer; a failed write is retried with the rows kept. Closing the writer commits what waits.
Batch scoring writes each chunk itself (`write_rows`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pandas as pd
from sqlalchemy import JSON, Select, Table, column, delete, func, insert, select, table
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.types import TypeDecorator

from statops.errors import InvalidInput, StatopsError
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
    requested_by: str | None,
    ids: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Log rows for `texts` and their predictions (the task's answer columns), asked for by the user
    `requested_by`. `alternatives` stay the JSON text the model made (parsed ones are dumped)."""
    at = datetime.now(UTC)
    ids = ids if ids is not None else [new_id() for _ in texts]
    columns = {name: predictions[name] for name in ANSWER_COLUMNS}
    alternatives = [a if isinstance(a, str) else orjson.dumps(a).decode() for a in columns["alternatives"]]
    return [
        {"id": row_id, "at": at, "model": ref.name, "version": ref.version, "alias": ref.alias,
         "source": source, "request_id": request_id, "input_sha256": text_sha256(text),
         "input_text": text if keep_text else None, "text_length": len(text), "code": code, "confidence": confidence,
         "decision": decision, "alternatives": alts, "requested_by": requested_by}
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


def in_window(query: Select[Any], model: str | None = None, version: str | None = None,
              since: datetime | None = None, until: datetime | None = None) -> Select[Any]:
    """`query` narrowed to log rows of `model` (and `version`) logged in [since, until)."""
    conditions = [TABLE.c.model == model] if model is not None else []
    conditions += [TABLE.c.version == version] if version is not None else []
    conditions += [TABLE.c.at >= since] if since is not None else []
    return query.where(*conditions, *([TABLE.c.at < until] if until is not None else []))


def read_predictions(store: Store, model: str | None = None, version: str | None = None,
                     since: datetime | None = None, until: datetime | None = None,
                     limit: int | None = None) -> pd.DataFrame:
    """Logged predictions, oldest first, for monitoring and review: optionally of one model (and
    version) and in a time window [since, until)."""
    query = in_window(select(TABLE), model, version, since, until).order_by(TABLE.c.at, TABLE.c.id)
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


_PENDING, _IN_FLIGHT, _DONE, _WITHDRAWN = range(4)
_STATEMENT_ROWS = 1000  # rows in one INSERT statement: 13,000 parameters, well under the backends' limits


@dataclass(eq=False)
class _Group:  # the rows of one request, and how its waiting request is told they are committed
    rows: list[dict[str, Any]]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]
    queued_at: float = field(default_factory=time.monotonic)
    state: int = _PENDING
    withdrawn: bool = False  # its request gave up (503 or cancelled) while it was being written


def _resolve(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for future in (f for f in futures if not f.done()):
        future.set_result(None) if error is None else future.set_exception(error)


class PredictionLogWriter:
    """Group commit: `await writer.write(rows)` returns once the rows are committed.

    Each commit is one multi-row INSERT on a connection of its own in autocommit mode: the writer
    thread then hands the GIL back and forth with the event loop once per commit, not once per row
    and per BEGIN, COMMIT and pool check (each handover can wait for the loop's model calls).
    """

    def __init__(self, store: Store, *, batch_rows: int = 2000, queue_rows: int = 200_000,
                 wait_seconds: float = 10.0):
        self.store = store
        self.batch_rows = batch_rows  # rows per transaction (whole requests; at least one)
        self.queue_rows = queue_rows
        self.wait_seconds = wait_seconds
        self._pending: deque[_Group] = deque()
        self._in_flight: list[_Group] = []
        self._cond = threading.Condition()
        self.backlog = 0  # rows accepted and neither committed nor given up
        self._closing = self._abandon = False
        self.written_rows = self.commits = self.failed_writes = 0
        self.failing = False  # the last write failed (and none has succeeded since)
        self.refusals = 0  # requests answered 503: their rows were not committed in time, or no room
        self.last_error: str | None = None
        self._backoff = 0.2  # seconds before a failed write is tried again (doubling up to 5)
        self._alone = 0  # after rows the store refused: the next batches hold one request each
        self._connection: Any = None  # the writer thread's own, in autocommit mode
        dialect = store.engine.dialect
        self._fast = dialect.paramstyle in ("qmark", "format", "pyformat")
        self._mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self._binds = [(c.name, c.type.dialect_impl(dialect).bind_processor(dialect)) for c in _INSERT_INTO.c]
        names = ", ".join(dialect.identifier_preparer.quote(c.name) for c in _INSERT_INTO.c)
        self._insert = f"INSERT INTO {dialect.identifier_preparer.quote(TABLE.name)} ({names}) VALUES "
        self._thread = threading.Thread(target=self._run, name="statops-prediction-log", daemon=True)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def lag_seconds(self) -> float:
        """How long the oldest rows not yet committed have waited (0 when none wait)."""
        with self._cond:
            waiting = [g.queued_at for g in self._in_flight if not g.withdrawn]
            waiting += [next((g.queued_at for g in self._pending if g.state == _PENDING), time.monotonic())]
        return time.monotonic() - min(waiting)

    def falling_behind(self, max_backlog_rows: int, max_lag_seconds: float) -> str | None:
        """Why the log cannot keep up (for readiness), or None while it does."""
        if not self.alive:
            return "the writer thread stopped"
        if self.failing and self.backlog:
            return f"the last write failed: {self.last_error}"
        if self.backlog > max_backlog_rows:
            return f"{self.backlog:,} rows wait to be committed (more than {max_backlog_rows:,})"
        lag = self.lag_seconds
        if lag > max_lag_seconds:
            return f"rows have waited {lag:.1f} s to be committed (more than {max_lag_seconds:g} s)"
        return None

    def start(self) -> PredictionLogWriter:
        self._thread.start()
        return self

    def _withdraw(self, group: _Group) -> bool:
        """Its request gives up: False when the rows are committed already (then it may answer)."""
        with self._cond:
            if group.state == _DONE:
                return False
            if group.state == _PENDING:  # still queued: it never reaches the store
                group.state = _WITHDRAWN
                self.backlog -= len(group.rows)
            else:  # being written: if this commit fails, the rows are dropped, not retried
                group.withdrawn = True
            return True

    async def write(self, rows: list[dict[str, Any]]) -> None:
        """Return once `rows` are committed; LogBackpressure when that takes over `wait_seconds`, or
        at once when `queue_rows` rows wait already. Cancelled or refused, the rows are taken back if
        still queued (a commit under way may write them)."""
        loop = asyncio.get_running_loop()
        group = _Group(rows, loop, loop.create_future())
        with self._cond:
            if self._closing:
                raise LogBackpressure("the server is shutting down; the prediction log takes no more rows")
            if self.backlog and self.backlog + len(rows) > self.queue_rows:
                self.refusals += 1
                raise LogBackpressure(f"the prediction log is {self.backlog:,} rows behind; try again shortly")
            self._pending.append(group)
            self.backlog += len(rows)
            self._cond.notify()
        try:
            async with asyncio.timeout(self.wait_seconds):
                await group.future
        except TimeoutError:
            if not self._withdraw(group):
                return  # committed just as the time ran out
            self.refusals += 1
            raise LogBackpressure(
                f"the prediction log did not commit this request's predictions within {self.wait_seconds:g} s "
                "(its store is slow, locked or down); nothing was answered, try again shortly") from None
        except BaseException:
            self._withdraw(group)
            raise

    def _take_batch(self) -> list[_Group] | None:
        """The groups to commit next: whatever waits (whole requests, up to batch_rows rows)."""
        with self._cond:
            while True:
                while self._pending and self._pending[0].state == _WITHDRAWN:
                    self._pending.popleft()
                if self._pending or self._closing or self._abandon:
                    break
                self._backoff = 0.2  # nothing left to retry: new rows are tried at once
                self._cond.wait()
            if self._abandon or not self._pending:
                return None  # closing, and everything is written
            batch: list[_Group] = []
            rows, limit = 0, 0 if self._alone else self.batch_rows
            self._alone = max(0, self._alone - 1)
            while self._pending and (not batch or rows + len(self._pending[0].rows) <= limit):
                group = self._pending.popleft()
                if group.state == _PENDING:
                    group.state = _IN_FLIGHT
                    batch.append(group)
                    rows += len(group.rows)
            self._in_flight = batch
            return batch

    def _run(self) -> None:
        while (batch := self._take_batch()) is not None:
            rows = batch[0].rows if len(batch) == 1 else [row for group in batch for row in group.rows]
            try:
                self._commit(rows)
            # these rows, not the store (refused by it, or malformed before they reach it): never retried
            except (DataError, IntegrityError, KeyError, TypeError, ValueError) as exc:
                if len(batch) == 1:
                    self._requeue([], exc)
                    self._tell(batch, InvalidInput(f"the prediction log refused these records: {self.last_error}"))
                else:  # find the request whose rows it refuses: the others are written one by one
                    self._requeue(batch, exc)
                    self._alone = len(batch)
                continue
            except Exception as exc:  # the database is down, locked or refuses: keep the rows, retry
                self._requeue(batch, exc)
                log.error("prediction log write of %d rows failed (retrying in %.1f s): %s",
                          len(rows), self._backoff, self.last_error)
                with self._cond:
                    self._cond.wait_for(lambda: self._abandon, self._backoff)
                    self._backoff = min(self._backoff * 2, 5.0)
                continue
            self._backoff = 0.2
            with self._cond:
                for group in batch:
                    group.state = _DONE
                self._in_flight = []
                self.backlog -= len(rows)
                self.written_rows += len(rows)
                self.commits += 1
                self.failing = False
            self._tell(batch, None)

    def _commit(self, rows: list[dict[str, Any]]) -> None:
        """Write `rows` in one transaction: one INSERT statement in autocommit mode where it fits."""
        if not self._fast or len(rows) > _STATEMENT_ROWS:
            write_rows(self.store, rows)
            return
        if self._connection is None:
            self._connection = self.store.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        values = ", ".join(["(" + ", ".join([self._mark] * len(self._binds)) + ")"] * len(rows))
        parameters = tuple(bind(row[name]) if bind else row[name] for row in rows for name, bind in self._binds)
        try:
            self._connection.exec_driver_sql(self._insert + values, parameters)
        except Exception:
            connection, self._connection = self._connection, None  # the next try takes a new one
            connection.invalidate()
            connection.close()
            raise

    def _requeue(self, batch: list[_Group], exc: Exception) -> None:
        with self._cond:
            self.failed_writes += 1
            self.failing = True
            orig = getattr(exc, "orig", None) or exc  # the driver's error, without SQLAlchemy's statement
            self.last_error = f"{type(orig).__name__}: {str(orig).splitlines()[0] if str(orig) else ''}"[:300]
            for group in self._in_flight:
                if group not in batch:  # refused rows: dropped
                    group.state = _DONE
                    self.backlog -= len(group.rows)
            self._in_flight = []
            for group in reversed(batch):
                if group.withdrawn:  # its request has given up: never answered, so not written
                    group.state = _WITHDRAWN
                    self.backlog -= len(group.rows)
                else:
                    group.state = _PENDING
                    self._pending.appendleft(group)

    @staticmethod
    def _tell(groups: list[_Group], error: BaseException | None) -> None:
        """Wake the waiting requests, one call into each event loop."""
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for group in groups:
            by_loop.setdefault(group.loop, []).append(group.future)
        for loop, futures in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, futures, error)
            except RuntimeError:  # that loop is closed: nobody waits any more
                pass

    def close(self, timeout: float = 30.0) -> int:
        """Take no more rows and commit what waits, for at most `timeout` s; returns the rows not written."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._thread.is_alive():
            with self._cond:
                self._abandon = True
                left = [g for g in self._pending if g.state == _PENDING]
                self._cond.notify_all()
            self._tell(left, LogBackpressure("the server stopped before these predictions were logged"))
            log.error("prediction log: %d rows could not be written before shutdown: %s",
                      self.backlog, self.last_error)
        elif self._connection is not None:
            self._connection.close()
        return self.backlog
