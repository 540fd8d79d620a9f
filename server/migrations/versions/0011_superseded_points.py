"""Superseded ``customer_visit`` points: each visit's ``settled_as`` (the customer whose point
was written for it, server/visit_settle.py) and the spool's ``kind`` (``write``: line
protocol for ``/write``; ``delete``: InfluxQL ``DELETE`` statements for ``/query``), so that
settling a customer again removes the points of the customers a late camera visit merged into
them, in spool order. The visits settled so far were settled as their customer now.

Revision ID: 0011_superseded_points
Revises: 0010_alerts_open_key
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_superseded_points"
down_revision = "0010_alerts_open_key"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "visits",
        sa.Column("settled_as", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
    )
    op.execute("UPDATE visits SET settled_as = customer WHERE settled_at IS NOT NULL")
    op.add_column("influx_spool", sa.Column("kind", sa.String(8), nullable=False, server_default="write"))


def downgrade() -> None:
    op.drop_column("influx_spool", "kind")
    op.drop_column("visits", "settled_as")
