"""Queue-ticket events: ``ticket_events`` (one row per ``ticket_event`` message).

Revision ID: 0004_ticket_events
Revises: 0003_floor_roles_ack_links
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_ticket_events"
down_revision = "0003_floor_roles_ack_links"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ticket_events",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("ticket", sa.String(32), nullable=False),
        sa.Column("business", sa.String(64), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("counter", sa.String(64), nullable=True),
        sa.Column("to_counter", sa.String(64), nullable=True),
        sa.Column("to_business", sa.String(64), nullable=True),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_ticket_events_site_at", "ticket_events", ["site", "at"])
    op.create_index("ix_ticket_events_ticket", "ticket_events", ["site", "ticket", "issued_at"])


def downgrade() -> None:
    op.drop_index("ix_ticket_events_ticket", "ticket_events")
    op.drop_index("ix_ticket_events_site_at", "ticket_events")
    op.drop_table("ticket_events")
