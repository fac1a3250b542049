"""audit trail: before, after, reason, hash chain; append-only

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 11:00:00.000000
"""
import hashlib
import json
from datetime import UTC

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

GENESIS = "0" * 64
APPEND_ONLY = "audit_events is append-only"


def _row_hash(prev_hash, at, actor, action, subject, details, before, after, reason):  # noqa: ANN001, ANN202
    """A frozen copy of statops.store.audit.row_hash as it was when this migration was written."""
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    content = {"at": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "actor": actor, "action": action,
               "subject": subject, "details": details, "before": before, "after": after, "reason": reason}
    body = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + "\n" + body).encode("utf-8")).hexdigest()


def upgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('before', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('after', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('hash', sa.String(length=64), nullable=True))

    # The rows there already join the chain in the order they were written.
    bind = op.get_bind()
    events = sa.table('audit_events', sa.column('id', sa.Integer()), sa.column('at', sa.DateTime(timezone=True)),
                      sa.column('actor', sa.String()), sa.column('action', sa.String()),
                      sa.column('subject', sa.String()), sa.column('details', sa.JSON()),
                      sa.column('prev_hash', sa.String()), sa.column('hash', sa.String()))
    prev = GENESIS
    for row in bind.execute(sa.select(events).order_by(events.c.id)).all():
        details = json.loads(json.dumps(row.details or {}, default=str, ensure_ascii=False))
        digest = _row_hash(prev, row.at, row.actor, row.action, row.subject, details, None, None, None)
        bind.execute(events.update().where(events.c.id == row.id).values(prev_hash=prev, hash=digest))
        prev = digest

    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('hash', existing_type=sa.String(length=64), nullable=False)

    # No statops code updates or deletes audit rows; the database refuses it too.
    if bind.dialect.name == "postgresql":
        op.execute(f"""CREATE FUNCTION statops_audit_append_only() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END $$ LANGUAGE plpgsql""")
        op.execute("""CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
            FOR EACH ROW EXECUTE FUNCTION statops_audit_append_only()""")
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(f"""CREATE TRIGGER audit_events_no_{event.lower()} BEFORE {event} ON audit_events
                BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END""")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION statops_audit_append_only()")
    else:
        op.execute("DROP TRIGGER audit_events_no_update")
        op.execute("DROP TRIGGER audit_events_no_delete")
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_column('hash')
        batch_op.drop_column('prev_hash')
        batch_op.drop_column('reason')
        batch_op.drop_column('after')
        batch_op.drop_column('before')
