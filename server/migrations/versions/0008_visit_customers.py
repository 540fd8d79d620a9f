"""Visits joined across cameras: each visit's floor path and the customer it belongs to.

Revision ID: 0008_visit_customers
Revises: 0007_visits
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_visit_customers"
down_revision = "0007_visits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("visits", sa.Column("path", sa.Text(), nullable=False, server_default=""))
    op.add_column(
        "visits",
        sa.Column("customer", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
    )
    op.execute("UPDATE visits SET customer = id")  # the visits stored so far: one customer each
    op.create_index("ix_visits_customer", "visits", ["customer"])


def downgrade() -> None:
    op.drop_index("ix_visits_customer", table_name="visits")
    op.drop_column("visits", "customer")
    op.drop_column("visits", "path")
