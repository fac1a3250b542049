"""governance: version states, gates, approval requests, production periods; who asked for a prediction

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 10:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('prediction_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('requested_by', sa.String(length=200), nullable=True))
    op.create_table('model_version_states',
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('version', sa.String(length=50), nullable=False),
    sa.Column('task', sa.String(length=50), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('trained_by', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('changed_by', sa.String(length=200), nullable=False),
    sa.Column('is_previous', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('model', 'version')
    )
    op.create_table('model_gates',
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('gates', sa.JSON(), nullable=False),
    sa.Column('set_by', sa.String(length=200), nullable=False),
    sa.Column('set_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('model')
    )
    op.create_table('approval_requests',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('version', sa.String(length=50), nullable=False),
    sa.Column('requested_by', sa.String(length=200), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('evaluation', sa.JSON(), nullable=False),
    sa.Column('gate_results', sa.JSON(), nullable=False),
    sa.Column('gates_passed', sa.Boolean(), nullable=False),
    sa.Column('decision', sa.String(length=20), nullable=True),
    sa.Column('decided_by', sa.String(length=200), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_reason', sa.Text(), nullable=True),
    sa.Column('override', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_approval_requests_model_version', 'approval_requests', ['model', 'version'], unique=False)
    op.create_table('production_periods',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('version', sa.String(length=50), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_by', sa.String(length=200), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_by', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_production_periods_model_started', 'production_periods', ['model', 'started_at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_production_periods_model_started', table_name='production_periods')
    op.drop_table('production_periods')
    op.drop_index('ix_approval_requests_model_version', table_name='approval_requests')
    op.drop_table('approval_requests')
    op.drop_table('model_gates')
    op.drop_table('model_version_states')
    with op.batch_alter_table('prediction_log', schema=None) as batch_op:
        batch_op.drop_column('requested_by')
