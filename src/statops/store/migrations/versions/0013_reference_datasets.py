"""datasets: reference bases (a task's answers, such as the addresses a matcher links records to) and the
reference base whose ids a dataset's labels are

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-28 10:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('datasets') as batch:
        batch.add_column(sa.Column('kind', sa.String(20), nullable=False, server_default='records'))
        batch.add_column(sa.Column('reference', sa.String(300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('datasets') as batch:
        batch.drop_column('reference')
        batch.drop_column('kind')
