"""Our own store: classifications, the dataset catalogue, the audit trail and the prediction log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, overload

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


@overload
def aware(moment: datetime) -> datetime: ...
@overload
def aware(moment: None) -> None: ...
def aware(moment: datetime | None) -> datetime | None:
    """A time read back from the store, zone-aware: SQLite hands back naive datetimes, and every time
    statops writes is UTC."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Classification(Base):
    """One version of a statistical classification (e.g. SOC 2010)."""

    __tablename__ = "classifications"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_classification_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[str] = mapped_column(String(100))
    levels: Mapped[list[Any]] = mapped_column(JSON)
    source_file: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    codes: Mapped[list[ClassificationCode]] = relationship(
        back_populates="classification", cascade="all, delete-orphan", order_by="ClassificationCode.id"
    )


class ClassificationCode(Base):
    __tablename__ = "classification_codes"
    __table_args__ = (UniqueConstraint("classification_id", "code", name="uq_classification_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    classification_id: Mapped[int] = mapped_column(
        ForeignKey("classifications.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(100))
    depth: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    parent: Mapped[str | None] = mapped_column(String(100), nullable=True)
    classification: Mapped[Classification] = relationship(back_populates="codes")


class Dataset(Base):
    """An immutable, content-hashed snapshot of labelled (or unlabelled) records."""

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_dataset_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    rows: Mapped[int] = mapped_column(BigInteger)
    columns: Mapped[list[Any]] = mapped_column(JSON)
    text_column: Mapped[str] = mapped_column(String(200))
    label_column: Mapped[str | None] = mapped_column(String(200), nullable=True)
    classification: Mapped[str | None] = mapped_column(String(200), nullable=True)
    classification_version: Mapped[str | None] = mapped_column(String(100), nullable=True)
    cycle: Mapped[str | None] = mapped_column(String(50), nullable=True)
    gsbpm: Mapped[str | None] = mapped_column(String(20), nullable=True)
    # 'records' (texts, maybe labelled) or 'reference' (a reference base: the answers a task links records to)
    kind: Mapped[str] = mapped_column(String(20), default="records", server_default="records")
    # for records labelled with a reference base's ids: that base, NAME@N
    reference: Mapped[str | None] = mapped_column(String(300), nullable=True)
    source_file: Mapped[str] = mapped_column(String(500))
    source_sha256: Mapped[str] = mapped_column(String(64))
    snapshot_path: Mapped[str] = mapped_column(String(1000))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEvent(Base):
    """Every state change: who did what to which thing (`subject`: the object), when, the state before
    and after, why. Append-only, in a hash chain (statops.store.audit)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(500))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    before: Mapped[Any | None] = mapped_column(JSON, nullable=True)
    after: Mapped[Any | None] = mapped_column(JSON, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class User(Base):
    """Someone who acts on the workspace, with one role; disabled users keep their history."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)  # argon2; None: tokens only
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))


class ApiToken(Base):
    """An API token: only the sha256 of the secret is kept; it is shown once, when created."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # shown in listings, used to revoke
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(200))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    user: Mapped[User] = relationship()


class WebSession(Base):
    """A sign-in to the web pages: only the sha256 of the session cookie is kept, with the session's CSRF
    token; it ends at `expires_at`, or when idle too long (statops.accounts.sessions)."""

    __tablename__ = "web_sessions"

    session_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PredictionLogEntry(Base):
    """One prediction, online or batch: what was asked, of which model version, and the answer."""

    __tablename__ = "prediction_log"
    # every column monitoring reads, in its order: a window is read from the index alone
    __table_args__ = (Index("ix_prediction_log_monitoring", "model", "version", "at", "id", "code", "confidence",
                            "decision", "text_length"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # time-ordered, made at request time
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    model: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(50))
    alias: Mapped[str | None] = mapped_column(String(100), nullable=True)
    source: Mapped[str] = mapped_column(String(20))  # 'api' or 'batch'
    request_id: Mapped[str] = mapped_column(String(36), index=True)  # one HTTP request or one batch job
    input_sha256: Mapped[str] = mapped_column(String(64), index=True)
    input_text: Mapped[str | None] = mapped_column(Text, nullable=True)  # None when STATOPS_LOG_TEXT=false
    text_length: Mapped[int | None] = mapped_column(Integer, nullable=True)  # kept also when the text is not
    code: Mapped[str] = mapped_column(String(100))
    confidence: Mapped[float] = mapped_column(Float)
    decision: Mapped[str] = mapped_column(String(20))
    alternatives: Mapped[list[Any]] = mapped_column(JSON)
    requested_by: Mapped[str | None] = mapped_column(String(200), nullable=True)  # the user who asked


class ModelVersionState(Base):
    """Where a registered version stands in the lifecycle (statops.registry.governance): the truth that
    MLflow's `statops.state` tag and `production`/`previous` aliases mirror."""

    __tablename__ = "model_version_states"

    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    version: Mapped[str] = mapped_column(String(50), primary_key=True)
    task: Mapped[str] = mapped_column(String(50))
    state: Mapped[str] = mapped_column(String(20))  # candidate pending approved production retired rejected
    trained_by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)  # why it entered its state
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    changed_by: Mapped[str] = mapped_column(String(200))
    is_previous: Mapped[bool] = mapped_column(Boolean, default=False)  # holds alias `previous`


class ModelGates(Base):
    """A model's quality gates: gate key -> threshold (statops.registry.gates)."""

    __tablename__ = "model_gates"

    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    gates: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    set_by: Mapped[str] = mapped_column(String(200))
    set_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApprovalRequest(Base):
    """A request to approve a version, the gate results computed for it, and the decision."""

    __tablename__ = "approval_requests"
    __table_args__ = (Index("ix_approval_requests_model_version", "model", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(50))
    requested_by: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    reason: Mapped[str] = mapped_column(Text)
    evaluation: Mapped[dict[str, Any]] = mapped_column(JSON)  # run id, dataset, sha256 the gates read
    gate_results: Mapped[list[Any]] = mapped_column(JSON)
    gates_passed: Mapped[bool] = mapped_column(Boolean)
    decision: Mapped[str | None] = mapped_column(String(20), nullable=True)  # approved, rejected
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    decision_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    override: Mapped[str | None] = mapped_column(Text, nullable=True)  # an admin's justification


class ProductionPeriod(Base):
    """A period a version held the `production` alias; `ended_at` is None while it holds it."""

    __tablename__ = "production_periods"
    __table_args__ = (Index("ix_production_periods_model_started", "model", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(50))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_by: Mapped[str] = mapped_column(String(200))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ended_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class Feedback(Base):
    """A true code for a prediction (by its id) or for a text (by its sha256), from a clerical coder, an
    audit sample of auto-coded records, or an expert (statops.monitoring.feedback)."""

    __tablename__ = "feedback"
    __table_args__ = (Index("ix_feedback_model_created", "model", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(200))
    prediction_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    input_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    true_code: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(20))  # clerical, audit-sample, expert
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MonitoringAlert(Base):
    """An alert raised by a monitoring signal; open until the signal is ok again (statops.monitoring.alerts)."""

    __tablename__ = "monitoring_alerts"
    __table_args__ = (
        Index("ix_monitoring_alerts_model_state", "model", "state"),
        # two monitoring runs at once (a server's schedule and a cron job) never open the same alert twice
        Index("ux_monitoring_alerts_open", "model", "version", "signal", unique=True,
              sqlite_where=text("state = 'open'"), postgresql_where=text("state = 'open'")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(50))
    signal: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(20))  # open, resolved
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    message: Mapped[str] = mapped_column(Text)
    window: Mapped[str] = mapped_column(String(100))  # the window that raised it
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class MonitoringSchedule(Base):
    """The scheduled monitoring run of `statops serve`, shared by every server process and container: who
    holds it (until when), when it last ran, and the signals and open alerts it found, for /metrics
    (statops.monitoring.schedule_lock)."""

    __tablename__ = "monitoring_schedule"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    outcome: Mapped[str | None] = mapped_column(Text, nullable=True)
    snapshot: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON of the last completed run


class ReviewItem(Base):
    """A logged prediction waiting for (or given) a clerical code: every `review` decision, plus an audit
    sample of `auto` ones (statops.review). Task-agnostic: the record's text, the model's answer and its
    alternatives as logged. Locked to one coder at a time until `locked_until`."""

    __tablename__ = "review_items"
    __table_args__ = (
        Index("ix_review_items_model_status", "model", "status"),
        # handing out the next item walks one of these in order (statops.review.queue.next_item)
        Index("ix_review_items_oldest", "model", "status", "audit", "predicted_at", "id"),
        Index("ix_review_items_least_confident", "model", "status", "audit", "confidence", "id"),
        Index("ix_review_items_locked_by", "locked_by"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    prediction_id: Mapped[str] = mapped_column(String(36), unique=True)
    model: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(50))
    predicted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    text: Mapped[str | None] = mapped_column(Text, nullable=True)  # None when the log keeps no text
    code: Mapped[str] = mapped_column(String(100))  # the model's answer
    confidence: Mapped[float] = mapped_column(Float)
    alternatives: Mapped[list[Any]] = mapped_column(JSON)  # the model's top suggestions, as logged
    audit: Mapped[bool] = mapped_column(Boolean)  # an audit sample of an auto-coded prediction
    codings_needed: Mapped[int] = mapped_column(Integer)  # 1, or 2 when coded twice for agreement
    codings_done: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20))  # open, done
    locked_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReviewDecision(Base):
    """One coder's answer to a review item: a code, `uncodable` or `skip`, and how long it took."""

    __tablename__ = "review_decisions"
    __table_args__ = (
        Index("ix_review_decisions_model_at", "model", "decided_at"),
        UniqueConstraint("item_id", "coder", name="uq_review_decisions_item_coder"),  # a double submit counts once
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("review_items.id", ondelete="CASCADE"), index=True)
    model: Mapped[str] = mapped_column(String(200))
    coder: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(20))  # coded, uncodable, skip
    code: Mapped[str | None] = mapped_column(String(100), nullable=True)
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReviewSync(Base):
    """How far each model's prediction log has been read into the review queue (a high-water mark)."""

    __tablename__ = "review_sync"

    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    synced_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
