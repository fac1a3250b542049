"""The review queue: filled from the prediction log, handed out one locked item at a time.

`sync_queue` reads the log rows of a model logged since its high-water mark (less an overlap, for rows
committed late) and queues every `review` decision and an audit sample of `auto` ones; the serving hot
path is untouched. `next_item` locks the next item to a coder with one conditional UPDATE, so two
coders racing for the same item never both get it."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import bindparam, delete, exists, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from statops.accounts import Actor, require
from statops.errors import InvalidInput
from statops.review.sampling import coded_twice, in_audit_sample
from statops.scoring.prediction_log import TABLE as LOG
from statops.scoring.prediction_log import in_window
from statops.store.schema import ReviewDecision, ReviewItem, ReviewSync, aware
from statops.workspace import Workspace

ITEMS: Any = ReviewItem.__table__
DECISIONS: Any = ReviewDecision.__table__
SYNC: Any = ReviewSync.__table__
SUGGESTIONS = 5
ORDERS = ("oldest", "least_confident")
_ID_BATCH = 500
_CANDIDATES = 8  # items tried per round when handing one out (others may take the first ones)
_LAST_SYNC: dict[tuple[str, str], float] = {}  # (store, model) -> when this process last synced it
_SYNC_LOCK = threading.Lock()
_SYNCING: set[tuple[str, str]] = set()  # (store, model) synced by a thread now
log = logging.getLogger("statops.review")


@dataclass(frozen=True)
class QueueItem:
    """One item as a coder sees it: the record, the model's answer and its top suggestions."""

    id: int
    prediction_id: str
    model: str
    version: str
    predicted_at: datetime
    text: str | None
    code: str
    confidence: float
    suggestions: list[dict[str, Any]]
    audit: bool
    codings_needed: int
    codings_done: int
    locked_by: str | None
    locked_until: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.__dict__.items()}


def _suggestions(alternatives: Any) -> list[dict[str, Any]]:
    if isinstance(alternatives, str | bytes):
        alternatives = orjson.loads(alternatives)
    return [a for a in (alternatives or [])[:SUGGESTIONS] if isinstance(a, dict)] or list(
        (alternatives or [])[:SUGGESTIONS])


def item_from_row(row: Any) -> QueueItem:
    return QueueItem(row.id, row.prediction_id, row.model, row.version, aware(row.predicted_at),  # type: ignore[arg-type]
                     row.text, row.code, float(row.confidence), _suggestions(row.alternatives), bool(row.audit),
                     int(row.codings_needed), int(row.codings_done), row.locked_by, aware(row.locked_until))


def _insert_ignoring_duplicates(ws: Workspace, table: Any) -> Any:
    dialect = ws.store.engine.dialect.name
    if dialect == "postgresql":
        return pg_insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite_insert(table).on_conflict_do_nothing()
    return insert(table).prefix_with("IGNORE")  # MySQL-like stores


def sync_queue(ws: Workspace, model: str) -> int:
    """Queue `model`'s logged predictions not yet queued: every `review` decision, and the audit share of
    `auto` ones. Returns how many items were added. Safe to run concurrently (a prediction is queued once)."""
    settings = ws.settings
    with ws.store.engine.connect() as connection:
        mark = aware(connection.execute(select(SYNC.c.synced_until).where(SYNC.c.model == model)).scalar())
        since = mark - timedelta(seconds=settings.review_sync_overlap_seconds) if mark is not None else None
        newest = aware(connection.execute(in_window(select(func.max(LOG.c.at)), model, since=since)).scalar())
        # only the rows not queued yet: the overlap is read again through the unique prediction_id index
        unqueued = in_window(select(LOG.c.id, LOG.c.decision), model, since=since).where(
            LOG.c.decision.in_(("review", "auto")), ~exists().where(ITEMS.c.prediction_id == LOG.c.id))
        seen = connection.execute(unqueued).all()
    if newest is None:
        return 0
    wanted = [r.id for r in seen if r.decision == "review"
              or in_audit_sample(r.id, settings.review_audit_share)]
    if not wanted and mark is not None and newest <= mark:
        return 0  # nothing new: no write (it would wait for, and hold up, the coders' writes)
    added = 0
    with ws.store.writing() as connection:
        for first in range(0, len(wanted), _ID_BATCH):
            fresh = wanted[first:first + _ID_BATCH]
            rows = connection.execute(select(LOG).where(LOG.c.id.in_(fresh))).all()
            now = datetime.now(UTC)
            values = [{"prediction_id": r.id, "model": r.model, "version": r.version, "predicted_at": r.at,
                       "text": r.input_text, "code": r.code, "confidence": r.confidence,
                       "alternatives": _suggestions(r.alternatives), "audit": r.decision == "auto",
                       "codings_needed": 2 if coded_twice(r.id, settings.review_double_share) else 1,
                       "codings_done": 0, "status": "open", "queued_at": now} for r in rows]
            if values:
                added += len(connection.execute(
                    _insert_ignoring_duplicates(ws, ITEMS).returning(ITEMS.c.id), values).all())
        moved = connection.execute(update(SYNC).where(SYNC.c.model == model, SYNC.c.synced_until < newest)
                                   .values(synced_until=newest)).rowcount
        if not moved and mark is None:
            connection.execute(_insert_ignoring_duplicates(ws, SYNC), [{"model": model, "synced_until": newest}])
    return added


def refresh_queue(ws: Workspace, model: str) -> None:
    """`sync_queue`, unless this process ran it for `model` less than `review_sync_seconds` ago: handing
    out items stays cheap however many coders ask at once. A process's first sync of a model (and every
    one, with `review_sync_seconds` 0) runs before the caller goes on; later ones in a thread of their own,
    so no coder waits for the log to be read."""
    key, now = (ws.database_url, model), time.monotonic()
    interval = ws.settings.review_sync_seconds
    with _SYNC_LOCK:
        last = _LAST_SYNC.get(key)
        if last is not None and now - last < interval:
            return
        _LAST_SYNC[key] = now
        background = last is not None and interval > 0
        if background and key in _SYNCING:
            return
        if background:
            _SYNCING.add(key)
    if not background:
        sync_queue(ws, model)
        return
    threading.Thread(target=_sync_in_background, args=(ws, model, key), name="statops-review-sync",
                     daemon=True).start()


def _sync_in_background(ws: Workspace, model: str, key: tuple[str, str]) -> None:
    try:
        sync_queue(ws, model)
    except Exception as exc:  # the next call tries again; handing out items goes on meanwhile
        log.warning("reading new predictions of %s into the review queue failed: %s", model, type(exc).__name__)
    finally:
        with _SYNC_LOCK:
            _SYNCING.discard(key)


def _check_order(setting: str) -> str:
    if setting not in ORDERS:
        raise InvalidInput(f"unknown review order '{setting}'; orders: {', '.join(ORDERS)}")
    return setting


# The hand-out's statements, built once: building SQLAlchemy expressions anew took most of a hand-out's time.
_FREE = or_(ITEMS.c.locked_by.is_(None), ITEMS.c.locked_until < bindparam("now"),
            ITEMS.c.locked_by == bindparam("actor"))
_HELD = select(ITEMS.c.id, ITEMS.c.model, ITEMS.c.status, ITEMS.c.locked_until).where(
    ITEMS.c.locked_by == bindparam("actor")).order_by(ITEMS.c.id)
# audit items first, then the others; each walks its index (model, status, audit, order, id) in order
_CANDIDATE_QUERIES = {
    (order, audit): select(ITEMS.c.id).where(
        ITEMS.c.model == bindparam("model"), ITEMS.c.status == "open", ITEMS.c.audit == audit, _FREE,
        # not answered by this coder already (a second coding is by someone else; a skip is not shown again)
        ~exists().where(DECISIONS.c.item_id == ITEMS.c.id, DECISIONS.c.coder == bindparam("actor")))
    .order_by(ITEMS.c.confidence if order == "least_confident" else ITEMS.c.predicted_at, ITEMS.c.id)
    .limit(_CANDIDATES)
    for order in ORDERS for audit in (True, False)
}
_TAKE = update(ITEMS).where(ITEMS.c.id == bindparam("item"), ITEMS.c.status == "open", _FREE).values(
    locked_by=bindparam("actor"), locked_until=bindparam("until")).returning(*ITEMS.c)

_IN_LOG = select(LOG.c.id).where(LOG.c.id == bindparam("prediction"))


def next_item(ws: Workspace, actor: Actor, model: str, order: str | None = None) -> QueueItem | None:
    """The next item for `actor` (the one they hold already, else audit items first, then the configured
    order), locked to them for `review_lock_seconds`; None when nothing is left for them."""
    require(ws, actor, "review.code")
    refresh_queue(ws, model)
    order = _check_order(order or ws.settings.review_order)
    lock = timedelta(seconds=ws.settings.review_lock_seconds)
    while True:
        now = datetime.now(UTC)
        values = {"model": model, "actor": actor.name, "now": now}
        with ws.store.engine.connect() as connection:
            # the item they hold: found by locked_by alone (a coder holds a few items at most), as a
            # planner might otherwise walk the model's whole queue
            held = connection.execute(_HELD, values).all()
            candidates = [r.id for r in held if r.model == model and r.status == "open"
                          and (aware(r.locked_until) or now - lock) >= now][:1]
            for audit in (True, False):
                candidates = candidates or list(connection.execute(_CANDIDATE_QUERIES[order, audit], values).scalars())
        if not candidates:
            return None
        for item_id in candidates:
            with ws.store.writing() as connection:
                item = connection.execute(_TAKE, {"actor": actor.name, "now": now, "item": item_id,
                                                   "until": now + lock}).first()
                if item is None:
                    continue
                if _withdrawn(connection, item):
                    continue
                return item_from_row(item)
        # every candidate was taken by someone else meanwhile (or withdrawn): look again


def _withdrawn(connection: Any, item: Any) -> bool:
    """An uncoded item whose prediction has left the log (a batch job that failed takes its rows back) is
    removed when it comes up, so that nobody codes a record that was never acknowledged."""
    if item.codings_done or connection.execute(_IN_LOG, {"prediction": item.prediction_id}).first():
        return False
    if connection.execute(select(DECISIONS.c.id).where(DECISIONS.c.item_id == item.id).limit(1)).first():
        return False
    connection.execute(delete(ITEMS).where(ITEMS.c.id == item.id))
    return True


def release_item(ws: Workspace, actor: Actor, item_id: int) -> bool:
    """Give an item back without answering it (the coder stops); True when they held it."""
    require(ws, actor, "review.code")
    with ws.store.writing() as connection:
        return bool(connection.execute(update(ITEMS).where(ITEMS.c.id == item_id, ITEMS.c.locked_by == actor.name)
                                       .values(locked_by=None, locked_until=None)).rowcount)


def queue_counts(ws: Workspace, model: str) -> dict[str, int]:
    """Items of `model` by status: open, done (after syncing the log)."""
    sync_queue(ws, model)
    with ws.store.engine.connect() as connection:
        rows = connection.execute(select(ITEMS.c.status, func.count()).where(ITEMS.c.model == model)
                                  .group_by(ITEMS.c.status)).all()
    counts = {"open": 0, "done": 0}
    counts.update({str(status): int(n) for status, n in rows})
    return counts
