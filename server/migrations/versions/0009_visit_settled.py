"""Settled visits: when a camera visit's customer was settled (its ``customer_visit`` point
written, server/visit_settle.py); NULL until then, so the visits stored so far are settled
once, by the first settle run after the upgrade.

Revision ID: 0009_visit_settled
Revises: 0008_visit_customers
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_visit_settled"
down_revision = "0008_visit_customers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("visits", sa.Column("settled_at", sa.DateTime(), nullable=True))
    op.create_index("ix_visits_unsettled", "visits", ["settled_at", "left_at"])


def downgrade() -> None:
    op.drop_index("ix_visits_unsettled", table_name="visits")
    op.drop_column("visits", "settled_at")
