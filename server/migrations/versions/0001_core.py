"""Core schema: sites, devices, vendors, tokens, idempotency keys, sequences, device
episodes and faults, per-minute rollups, InfluxDB spool.

Revision ID: 0001_core
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_core"
down_revision = None
branch_labels = ("core",)
depends_on = None

_BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sites",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name_en", sa.String(120), nullable=False),
        sa.Column("name_zh", sa.String(120), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("opening_hours", sa.Text(), nullable=False),
        sa.Column("max_wait_s", sa.Float(), nullable=False),
    )
    op.create_table("vendors", sa.Column("id", sa.String(64), primary_key=True))
    op.create_table(
        "devices",
        sa.Column("site", sa.String(64), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=True),
        sa.Column("vendor", sa.String(64), nullable=False),
        sa.Column("model", sa.String(120), nullable=True),
        sa.Column("zone", sa.String(64), nullable=True),
        sa.Column("configured", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_devices_vendor", "devices", ["vendor"])
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("sites", sa.Text(), nullable=False),
        sa.Column("vendor", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "received_messages",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("is_will", sa.Boolean(), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("site", "source", "epoch", "seq", "is_will", name="uq_received_stream_seq"),
    )
    op.create_index("ix_received_messages_received_at", "received_messages", ["received_at"])
    op.create_table(
        "seq_streams",
        sa.Column("site", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("epoch", sa.BigInteger(), primary_key=True),
        sa.Column("highest_seq", sa.BigInteger(), nullable=False),
        sa.Column("received", sa.BigInteger(), nullable=False),
        sa.Column("gaps", sa.BigInteger(), nullable=False),
        sa.Column("missing", sa.BigInteger(), nullable=False),
        sa.Column("late", sa.BigInteger(), nullable=False),
        sa.Column("last_ts", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "device_episodes",
        sa.Column("id", _BIGID, primary_key=True, autoincrement=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("device", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("start", sa.DateTime(), nullable=False),
        sa.Column("end", sa.DateTime(), nullable=True),
        sa.Column("fault_code", sa.String(48), nullable=True),
    )
    op.create_index("ix_device_episodes_device", "device_episodes", ["site", "device", "start"])
    op.create_table(
        "device_faults",
        sa.Column("id", _BIGID, primary_key=True, autoincrement=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("device", sa.String(64), nullable=False),
        sa.Column("vendor", sa.String(64), nullable=False),
        sa.Column("code", sa.String(48), nullable=False),
        sa.Column("severity", sa.String(16), nullable=True),
        sa.Column("unusable", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.String(500), nullable=True),
        sa.Column("raised_at", sa.DateTime(), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(), nullable=True),
        sa.Column("acknowledged_by", sa.String(120), nullable=True),
        sa.Column("cleared_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_device_faults_device", "device_faults", ["site", "device", "raised_at"])
    op.create_table(
        "zone_minutes",
        sa.Column("site", sa.String(64), primary_key=True),
        sa.Column("zone", sa.String(64), primary_key=True),
        sa.Column("minute", sa.DateTime(), primary_key=True),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("occupancy_sum", sa.Float(), nullable=False),
        sa.Column("occupancy_max", sa.Float(), nullable=False),
        sa.Column("queue_samples", sa.Integer(), nullable=False),
        sa.Column("queue_sum", sa.Float(), nullable=False),
        sa.Column("queue_max", sa.Integer(), nullable=False),
        sa.Column("expected_wait_samples", sa.Integer(), nullable=False),
        sa.Column("expected_wait_sum_s", sa.Float(), nullable=False),
        sa.Column("expected_wait_max_s", sa.Float(), nullable=False),
        sa.Column("waits", sa.Integer(), nullable=False),
        sa.Column("waits_within_limit", sa.Integer(), nullable=False),
        sa.Column("wait_sum_s", sa.Float(), nullable=False),
        sa.Column("wait_max_s", sa.Float(), nullable=False),
    )
    op.create_table(
        "site_minutes",
        sa.Column("site", sa.String(64), primary_key=True),
        sa.Column("minute", sa.DateTime(), primary_key=True),
        sa.Column("arrivals", sa.Integer(), nullable=False),
        sa.Column("occupancy_samples", sa.Integer(), nullable=False),
        sa.Column("occupancy_sum", sa.Float(), nullable=False),
        sa.Column("occupancy_max", sa.Float(), nullable=False),
    )
    op.create_table(
        "influx_spool",
        sa.Column("id", _BIGID, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("n_lines", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "influx_spool",
        "site_minutes",
        "zone_minutes",
        "device_faults",
        "device_episodes",
        "seq_streams",
        "received_messages",
        "api_tokens",
        "devices",
        "vendors",
        "sites",
    ):
        op.drop_table(table)
