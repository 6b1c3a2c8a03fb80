"""incident.shown_revision and incident.provisioning_until: keeping Slack in line

A change is committed before Slack shows it; when showing it fails (Slack down, the
process killed in between), ``shown_revision`` stays behind ``revision`` and the
worker's reconcile sweep shows the incident again. Existing incidents count as shown.
``provisioning_until`` is the lease of whoever is giving the incident its channel,
card and announcement, so that the web process and the sweep never both do it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# SQLite's batch mode copies the table and cannot carry an expression index over
# (0004's ix_incident_impact_end): drop it before and make it again after.
IMPACT_END = sa.text('coalesce(mitigated_at, resolved_at)')


def upgrade() -> None:
    op.add_column('incident', sa.Column('shown_revision', sa.Integer(), server_default='0', nullable=False))
    op.add_column('incident', sa.Column('provisioning_until', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE incident SET shown_revision = revision")


def downgrade() -> None:
    op.drop_index('ix_incident_impact_end', table_name='incident')
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.drop_column('provisioning_until')
        batch_op.drop_column('shown_revision')
    op.create_index('ix_incident_impact_end', 'incident', [IMPACT_END], unique=False)
