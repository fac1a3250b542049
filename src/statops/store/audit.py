"""The audit trail: append-only rows in a hash chain, so an edited, removed or inserted row is found.

Each row's `hash` is the sha256 of the previous row's hash and the row's own content (when, who, what,
which object, before, after, reason, details), in a canonical JSON form. Appends are serialised so
concurrent writers never fork the chain: on PostgreSQL by a transaction-level advisory lock, on
SQLite by taking the database's write lock before the chain's head is read."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select, text
from sqlalchemy.orm import Session

from statops.store.schema import AuditEvent

GENESIS = "0" * 64  # the previous hash of the first row
ADVISORY_LOCK_KEY = 0x57A7_0A0D  # pg_advisory_xact_lock key of the chain's head


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def canonical(value: Any) -> Any:
    """The JSON form a value is stored and hashed in (so what is read back hashes the same)."""
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def row_hash(prev_hash: str, at: datetime, actor: str, action: str, subject: str, details: Any,
             before: Any, after: Any, reason: str | None) -> str:
    """The chain hash of one row. Keep in step with migration 0004, which hashed the rows before it."""
    content = {"at": _utc(at).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "actor": actor, "action": action,
               "subject": subject, "details": details, "before": before, "after": after, "reason": reason}
    body = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + "\n" + body).encode("utf-8")).hexdigest()


def lock_chain(session: Session) -> None:
    """Hold the chain's head until the caller's transaction ends."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
    else:  # a write statement takes SQLite's one write lock (waiting up to busy_timeout) for the transaction
        session.execute(text("UPDATE audit_events SET id = id WHERE 0 = 1"))


def append(session: Session, actor: str, action: str, subject: str, details: dict[str, Any],
           before: Any = None, after: Any = None, reason: str | None = None) -> AuditEvent:
    """Add one row at the end of the chain, inside the caller's transaction."""
    lock_chain(session)
    head = session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    prev = head or GENESIS
    at = datetime.now(UTC)
    details, before, after = canonical(details), canonical(before), canonical(after)
    event = AuditEvent(at=at, actor=actor, action=action, subject=subject, details=details, before=before,
                       after=after, reason=reason, prev_hash=prev,
                       hash=row_hash(prev, at, actor, action, subject, details, before, after, reason))
    session.add(event)
    session.flush()  # the next append in this transaction chains to this row
    return event


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    before: Any
    after: Any
    reason: str | None
    details: dict[str, Any]
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ChainCheck:
    """The result of `verify`: rows checked, and the first broken row (1-based position) if any."""

    rows: int
    broken_at: int | None = None
    broken_id: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def _rows(session: Session) -> Iterator[AuditEvent]:
    yield from session.scalars(select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=1000))


def verify(session: Session) -> ChainCheck:
    """Recompute the chain from the first row; stop at the first row that does not fit."""
    prev, count = GENESIS, 0
    for count, row in enumerate(_rows(session), start=1):
        if row.prev_hash != prev:
            return ChainCheck(count, count, row.id, "its previous-row hash does not match the row before it "
                                                    "(a row was removed, inserted or reordered)")
        expected = row_hash(prev, row.at, row.actor, row.action, row.subject, row.details, row.before,
                            row.after, row.reason)
        if row.hash != expected:
            return ChainCheck(count, count, row.id, "its content does not match its hash (the row was edited)")
        prev = row.hash
    return ChainCheck(count)


def read(session: Session, model: str | None = None, since: datetime | None = None,
         limit: int | None = None) -> list[AuditRecord]:
    """Audit rows, oldest first: of one model (its versions included) and/or since a moment."""
    query = select(AuditEvent).order_by(AuditEvent.id)
    if model is not None:
        query = query.where(or_(AuditEvent.subject == model, AuditEvent.subject.startswith(f"{model}/",
                                                                                          autoescape=True)))
    if since is not None:
        query = query.where(AuditEvent.at >= _utc(since))
    rows = list(session.scalars(query))
    if limit is not None:
        rows = rows[-limit:]
    return [AuditRecord(r.id, _utc(r.at), r.actor, r.action, r.subject, r.before, r.after, r.reason,
                        dict(r.details or {}), r.hash) for r in rows]
