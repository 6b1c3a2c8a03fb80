"""timeline capture: channel_message (every message in an incident channel), incident.detection

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 14:30:43.368977
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every message posted in an incident channel; (channel_id, ts) identifies a message,
    # so retried and duplicated deliveries store it once.
    op.create_table('channel_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=True),
    sa.Column('channel_id', sa.String(), nullable=False),
    sa.Column('ts', sa.String(), nullable=False),
    sa.Column('thread_ts', sa.String(), nullable=True),
    sa.Column('user_id', sa.String(), nullable=True),
    sa.Column('bot_id', sa.String(), nullable=True),
    sa.Column('subtype', sa.String(), nullable=True),
    sa.Column('text', sa.String(), nullable=False),
    sa.Column('posted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('edited_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('source', sa.String(), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('channel_id', 'ts', name='uq_channel_message_ts')
    )
    with op.batch_alter_table('channel_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_channel_message_incident_id'), ['incident_id'], unique=False)
        batch_op.create_index('ix_channel_message_incident_time', ['incident_id', 'posted_at'], unique=False)

    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.add_column(sa.Column('detection', sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.drop_column('detection')

    with op.batch_alter_table('channel_message', schema=None) as batch_op:
        batch_op.drop_index('ix_channel_message_incident_time')
        batch_op.drop_index(batch_op.f('ix_channel_message_incident_id'))

    op.drop_table('channel_message')