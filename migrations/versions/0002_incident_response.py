"""incident response: status updates, nudges (notification, snooze), revision, resolution

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 14:15:43.033571
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('notification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('channel_id', sa.String(), nullable=True),
    sa.Column('message_ts', sa.String(), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_incident_id'), ['incident_id'], unique=False)

    op.create_table('snooze',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(), nullable=False),
    sa.Column('until', sa.DateTime(timezone=True), nullable=False),
    sa.Column('snoozed_by', sa.String(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('snooze', schema=None) as batch_op:
        batch_op.create_index('ix_snooze_incident_kind', ['incident_id', 'kind'], unique=False)

    op.create_table('status_update',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('author', sa.String(), nullable=False),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('text', sa.String(), nullable=False),
    sa.Column('impact', sa.String(), nullable=True),
    sa.Column('next_update_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('posted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('channel_ts', sa.String(), nullable=True),
    sa.Column('announcement_ts', sa.String(), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('status_update', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_status_update_incident_id'), ['incident_id'], unique=False)

    with op.batch_alter_table('incident', schema=None) as batch_op:
        # server_default gives incidents declared before this revision a revision of 0.
        batch_op.add_column(sa.Column('revision', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('resolution', sa.String(), nullable=True))
        batch_op.add_column(sa.Column('last_update_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('role_assignment', schema=None) as batch_op:
        # One current holder per role (a partial unique index on both databases).
        batch_op.create_index('uq_role_assignment_current', ['incident_id', 'role'], unique=True,
                              sqlite_where=sa.text('ended_at IS NULL'),
                              postgresql_where=sa.text('ended_at IS NULL'))


def downgrade() -> None:
    with op.batch_alter_table('role_assignment', schema=None) as batch_op:
        batch_op.drop_index('uq_role_assignment_current')

    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.drop_column('last_update_at')
        batch_op.drop_column('resolution')
        batch_op.drop_column('revision')

    with op.batch_alter_table('status_update', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_status_update_incident_id'))

    op.drop_table('status_update')
    with op.batch_alter_table('snooze', schema=None) as batch_op:
        batch_op.drop_index('ix_snooze_incident_kind')

    op.drop_table('snooze')
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_incident_id'))

    op.drop_table('notification')
