"""The downlink queue per hall: ``downlink_heads`` (positions) and ``downlink_items``.

Revision ID: 0005_downlink
Revises: 0004_ticket_events
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_downlink"
down_revision = "0004_ticket_events"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "downlink_heads",
        sa.Column("site", sa.String(64), primary_key=True),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("acked_seq", sa.BigInteger(), nullable=False),
        sa.Column("dropped", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "downlink_items",
        sa.Column("site", sa.String(64), primary_key=True),
        sa.Column("seq", sa.BigInteger(), primary_key=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("downlink_items")
    op.drop_table("downlink_heads")
