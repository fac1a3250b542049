"""one open alert per model, version and signal; one answer per review item and coder

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-16 10:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ux_monitoring_alerts_open', 'monitoring_alerts', ['model', 'version', 'signal'],
                    unique=True, sqlite_where=sa.text("state = 'open'"),
                    postgresql_where=sa.text("state = 'open'"))
    with op.batch_alter_table('review_decisions') as batch:
        batch.create_unique_constraint('uq_review_decisions_item_coder', ['item_id', 'coder'])


def downgrade() -> None:
    with op.batch_alter_table('review_decisions') as batch:
        batch.drop_constraint('uq_review_decisions_item_coder', type_='unique')
    op.drop_index('ux_monitoring_alerts_open', table_name='monitoring_alerts')
