"""review: indexes that hand out the next item in order without reading the whole queue

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-18 10:00:00.000000
"""
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_review_items_oldest', 'review_items', ['model', 'status', 'audit', 'predicted_at', 'id'])
    op.create_index('ix_review_items_least_confident', 'review_items',
                    ['model', 'status', 'audit', 'confidence', 'id'])
    op.create_index('ix_review_items_locked_by', 'review_items', ['locked_by'])


def downgrade() -> None:
    op.drop_index('ix_review_items_locked_by', table_name='review_items')
    op.drop_index('ix_review_items_least_confident', table_name='review_items')
    op.drop_index('ix_review_items_oldest', table_name='review_items')
