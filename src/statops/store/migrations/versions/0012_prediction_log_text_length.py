"""prediction log: the input's length kept with each row (also when its text is not kept), and one
index that holds every column monitoring reads, in the order it reads them

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-20 10:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

MONITORING_COLUMNS = ['model', 'version', 'at', 'id', 'code', 'confidence', 'decision', 'text_length']


def upgrade() -> None:
    with op.batch_alter_table('prediction_log') as batch:
        batch.add_column(sa.Column('text_length', sa.Integer(), nullable=True))
    op.execute("UPDATE prediction_log SET text_length = length(input_text) WHERE input_text IS NOT NULL")
    op.drop_index('ix_prediction_log_model_version_at', table_name='prediction_log')
    op.create_index('ix_prediction_log_monitoring', 'prediction_log', MONITORING_COLUMNS)


def downgrade() -> None:
    op.drop_index('ix_prediction_log_monitoring', table_name='prediction_log')
    op.create_index('ix_prediction_log_model_version_at', 'prediction_log', ['model', 'version', 'at'])
    with op.batch_alter_table('prediction_log') as batch:
        batch.drop_column('text_length')
