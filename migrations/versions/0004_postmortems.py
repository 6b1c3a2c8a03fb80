"""postmortems: postmortem (owner, due date, review meeting, draft, status); incident indexes for metrics

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 15:01:30.361244
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# When an incident's impact ended: mitigated, or resolved when never marked mitigated.
# An expression index, written by hand: autogenerate cannot reflect expression indexes
# on SQLite, so it neither creates nor compares this one there. A later migration that
# makes batch mode *recreate* the incident table on SQLite must create it again.
IMPACT_END = sa.text('coalesce(mitigated_at, resolved_at)')


def upgrade() -> None:
    # One postmortem per incident (unique incident_id), so scheduling it twice is harmless.
    op.create_table('postmortem',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('owner', sa.String(), nullable=False),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('meeting_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('meeting_confirmed', sa.Boolean(), nullable=False),
    sa.Column('meeting_set_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('meeting_sequence', sa.Integer(), server_default='0', nullable=False),
    sa.Column('not_needed_reason', sa.String(), nullable=True),
    sa.Column('draft_markdown', sa.String(), nullable=True),
    sa.Column('draft_model', sa.String(), nullable=True),
    sa.Column('drafted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('incident_id')
    )
    with op.batch_alter_table('postmortem', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_postmortem_meeting_at'), ['meeting_at'], unique=False)
        batch_op.create_index('ix_postmortem_status_due', ['status', 'due_at'], unique=False)

    # Plain CREATE INDEX on both databases (no batch mode, which could recreate the table).
    op.create_index('ix_incident_declared_at', 'incident', ['declared_at'], unique=False)
    op.create_index('ix_incident_impact_end', 'incident', [IMPACT_END], unique=False)


def downgrade() -> None:
    op.drop_index('ix_incident_impact_end', table_name='incident')
    op.drop_index('ix_incident_declared_at', table_name='incident')

    with op.batch_alter_table('postmortem', schema=None) as batch_op:
        batch_op.drop_index('ix_postmortem_status_due')
        batch_op.drop_index(batch_op.f('ix_postmortem_meeting_at'))

    op.drop_table('postmortem')
