"""digest runs: digest_run (one weekly digest per ISO week and channel, claimed then posted)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 16:44:14.949463
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('digest_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('week', sa.String(length=10), nullable=False),
    sa.Column('channel', sa.String(), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('posted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('channel_id', sa.String(), nullable=True),
    sa.Column('message_ts', sa.String(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('week', 'channel', name='uq_digest_run_week_channel')
    )


def downgrade() -> None:
    op.drop_table('digest_run')
