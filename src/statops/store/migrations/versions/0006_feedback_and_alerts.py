"""monitoring: true codes (feedback) and monitoring alerts

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10 10:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('feedback',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('prediction_id', sa.String(length=36), nullable=True),
    sa.Column('input_sha256', sa.String(length=64), nullable=True),
    sa.Column('true_code', sa.String(length=100), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_feedback_model_created', 'feedback', ['model', 'created_at'], unique=False)
    op.create_index(op.f('ix_feedback_prediction_id'), 'feedback', ['prediction_id'], unique=False)
    op.create_index(op.f('ix_feedback_input_sha256'), 'feedback', ['input_sha256'], unique=False)
    op.create_table('monitoring_alerts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('version', sa.String(length=50), nullable=False),
    sa.Column('signal', sa.String(length=100), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('threshold', sa.Float(), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('window', sa.String(length=100), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_monitoring_alerts_model_state', 'monitoring_alerts', ['model', 'state'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_monitoring_alerts_model_state', table_name='monitoring_alerts')
    op.drop_table('monitoring_alerts')
    op.drop_index(op.f('ix_feedback_input_sha256'), table_name='feedback')
    op.drop_index(op.f('ix_feedback_prediction_id'), table_name='feedback')
    op.drop_index('ix_feedback_model_created', table_name='feedback')
    op.drop_table('feedback')
