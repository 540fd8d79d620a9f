"""Completed visits (``visit`` messages): one row per camera visit.

Revision ID: 0007_visits
Revises: 0006_alert_outbox_device_logs
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_visits"
down_revision = "0006_alert_outbox_device_logs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "visits",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("camera", sa.String(64), nullable=False),
        sa.Column("visit", sa.String(64), nullable=False),
        sa.Column("arrived_at", sa.DateTime(), nullable=False),
        sa.Column("left_at", sa.DateTime(), nullable=False),
        sa.Column("zones", sa.Text(), nullable=False),
        sa.Column("wait_zone", sa.String(64), nullable=True),
        sa.Column("wait_started", sa.DateTime(), nullable=True),
        sa.Column("wait_s", sa.Float(), nullable=True),
        sa.Column("service_zone", sa.String(64), nullable=True),
        sa.Column("service_started", sa.DateTime(), nullable=True),
        sa.Column("service_s", sa.Float(), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.UniqueConstraint("site", "camera", "visit", name="uq_visits_visit"),
    )
    op.create_index("ix_visits_site_left", "visits", ["site", "left_at"])


def downgrade() -> None:
    op.drop_index("ix_visits_site_left", table_name="visits")
    op.drop_table("visits")
