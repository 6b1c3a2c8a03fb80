"""digest indexes: action_item created_at and completed_at, postmortem published_at;
backlog_item.private_incident_id (a title that came from a private incident)

The weekly digest counts action items opened and closed in a week and postmortems
published in a week; these indexes let it read only that week's rows.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21 16:51:19.010769
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('backlog_item', schema=None) as batch_op:
        batch_op.add_column(sa.Column('private_incident_id', sa.Integer(), nullable=True))

    with op.batch_alter_table('action_item', schema=None) as batch_op:
        batch_op.create_index('ix_action_item_completed_at', ['completed_at'], unique=False)
        batch_op.create_index('ix_action_item_created_at', ['created_at'], unique=False)

    with op.batch_alter_table('postmortem', schema=None) as batch_op:
        batch_op.create_index('ix_postmortem_published_at', ['published_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('postmortem', schema=None) as batch_op:
        batch_op.drop_index('ix_postmortem_published_at')

    with op.batch_alter_table('action_item', schema=None) as batch_op:
        batch_op.drop_index('ix_action_item_created_at')
        batch_op.drop_index('ix_action_item_completed_at')

    with op.batch_alter_table('backlog_item', schema=None) as batch_op:
        batch_op.drop_column('private_incident_id')
