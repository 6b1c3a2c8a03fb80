"""action items and backlog: action_item, backlog_item; postmortem.draft_actions

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 16:02:43.511941
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('backlog_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(), nullable=False),
    sa.Column('description', sa.String(), nullable=False),
    sa.Column('category', sa.String(), nullable=True),
    sa.Column('services', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('owner', sa.String(), nullable=True),
    sa.Column('effort', sa.String(), nullable=True),
    sa.Column('reason', sa.String(), nullable=True),
    sa.Column('merged_into_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.String(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revision', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['merged_into_id'], ['backlog_item.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('backlog_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_backlog_item_status'), ['status'], unique=False)

    op.create_table('action_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('backlog_item_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(), nullable=False),
    sa.Column('description', sa.String(), nullable=False),
    sa.Column('owner', sa.String(), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('type', sa.String(), nullable=False),
    sa.Column('priority', sa.String(), nullable=False),
    sa.Column('service', sa.String(), nullable=True),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('wont_do_reason', sa.String(), nullable=True),
    sa.Column('origin', sa.String(), nullable=False),
    sa.Column('source_channel_id', sa.String(), nullable=True),
    sa.Column('source_ts', sa.String(), nullable=True),
    sa.Column('source_link', sa.String(), nullable=True),
    sa.Column('request_key', sa.String(), nullable=True),
    sa.Column('created_by', sa.String(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('snoozed_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revision', sa.Integer(), server_default='0', nullable=False),
    sa.Column('external_system', sa.String(), nullable=True),
    sa.Column('external_key', sa.String(), nullable=True),
    sa.Column('external_url', sa.String(), nullable=True),
    sa.Column('external_status', sa.String(), nullable=True),
    sa.Column('export_attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('export_error', sa.String(), nullable=True),
    sa.Column('export_next_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('synced_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['backlog_item_id'], ['backlog_item.id'], ),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('request_key')
    )
    with op.batch_alter_table('action_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_action_item_backlog_item_id'), ['backlog_item_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_action_item_incident_id'), ['incident_id'], unique=False)
        batch_op.create_index('ix_action_item_owner_status', ['owner', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_action_item_status'), ['status'], unique=False)
        batch_op.create_index('ix_action_item_status_due', ['status', 'due_at'], unique=False)

    # ADD COLUMN: batch mode does not recreate the table for this on SQLite.
    with op.batch_alter_table('postmortem', schema=None) as batch_op:
        batch_op.add_column(sa.Column('draft_actions', sa.JSON(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('postmortem', schema=None) as batch_op:
        batch_op.drop_column('draft_actions')

    with op.batch_alter_table('action_item', schema=None) as batch_op:
        batch_op.drop_index('ix_action_item_status_due')
        batch_op.drop_index(batch_op.f('ix_action_item_status'))
        batch_op.drop_index('ix_action_item_owner_status')
        batch_op.drop_index(batch_op.f('ix_action_item_incident_id'))
        batch_op.drop_index(batch_op.f('ix_action_item_backlog_item_id'))

    op.drop_table('action_item')
    with op.batch_alter_table('backlog_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_backlog_item_status'))

    op.drop_table('backlog_item')
