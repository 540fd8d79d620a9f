"""Vendor service levels and restarts: the alert notification outbox (``alert_outbox``) and
the monthly device logs kept for download (``device_logs``).

Revision ID: 0006_alert_outbox_device_logs
Revises: 0005_downlink
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_alert_outbox_device_logs"
down_revision = "0005_downlink"
branch_labels = None
depends_on = None

_BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # An alert store used before the migrations ran (tests, replay) may have made the outbox.
    if not sa.inspect(op.get_bind()).has_table("alert_outbox"):
        op.create_table(
            "alert_outbox",
            sa.Column("id", _BIGID, primary_key=True, autoincrement=True),
            sa.Column("site", sa.String(64), nullable=False),
            sa.Column("channel", sa.String(64), nullable=False),
            sa.Column("updates", sa.Text(), nullable=False),
            sa.Column("queued_at", sa.DateTime(), nullable=False),
            sa.Column("state", sa.String(16), nullable=False),
            sa.Column("done_at", sa.DateTime(), nullable=True),
            sa.Column("error", sa.Text(), nullable=True),
        )
        op.create_index("ix_alert_outbox_state", "alert_outbox", ["state"])
    op.create_table(
        "device_logs",
        sa.Column("id", _BIGID, primary_key=True, autoincrement=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("recipient", sa.String(80), nullable=False),
        sa.Column("vendor", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("csv", sa.Text(), nullable=False),
        sa.Column("faults_csv", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.UniqueConstraint("site", "month", "recipient", name="uq_device_log_recipient"),
    )
    op.create_index("ix_device_logs_vendor", "device_logs", ["vendor"])


def downgrade() -> None:
    op.drop_index("ix_device_logs_vendor", "device_logs")
    op.drop_table("device_logs")
    op.drop_index("ix_alert_outbox_state", "alert_outbox")
    op.drop_table("alert_outbox")
