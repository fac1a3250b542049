"""review: the clerical review queue's items, decisions and per-model sync marks

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-14 10:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('review_items',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('prediction_id', sa.String(length=36), nullable=False),
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('version', sa.String(length=50), nullable=False),
    sa.Column('predicted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('code', sa.String(length=100), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('alternatives', sa.JSON(), nullable=False),
    sa.Column('audit', sa.Boolean(), nullable=False),
    sa.Column('codings_needed', sa.Integer(), nullable=False),
    sa.Column('codings_done', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('locked_by', sa.String(length=200), nullable=True),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('queued_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('prediction_id')
    )
    op.create_index('ix_review_items_model_status', 'review_items', ['model', 'status'], unique=False)
    op.create_table('review_decisions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('coder', sa.String(length=200), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('code', sa.String(length=100), nullable=True),
    sa.Column('seconds', sa.Float(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['review_items.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_review_decisions_model_at', 'review_decisions', ['model', 'decided_at'], unique=False)
    op.create_index(op.f('ix_review_decisions_item_id'), 'review_decisions', ['item_id'], unique=False)
    op.create_table('review_sync',
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('synced_until', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('model')
    )


def downgrade() -> None:
    op.drop_table('review_sync')
    op.drop_index(op.f('ix_review_decisions_item_id'), table_name='review_decisions')
    op.drop_index('ix_review_decisions_model_at', table_name='review_decisions')
    op.drop_table('review_decisions')
    op.drop_index('ix_review_items_model_status', table_name='review_items')
    op.drop_table('review_items')
