"""Floor roles and chat acknowledge links: ``api_tokens.counter`` (the counter a counter
token is bound to) and ``ack_link_uses`` (each used link, so a link works once).

Revision ID: 0003_floor_roles_ack_links
Revises: 0002_token_expiry
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_floor_roles_ack_links"
down_revision = "0002_token_expiry"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("counter", sa.String(64), nullable=True))
    op.create_table(
        "ack_link_uses",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("alert_id", sa.String(64), nullable=False),
        sa.Column("recipient", sa.String(120), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_ack_link_uses_alert_id", "ack_link_uses", ["alert_id"])


def downgrade() -> None:
    op.drop_index("ix_ack_link_uses_alert_id", table_name="ack_link_uses")
    op.drop_table("ack_link_uses")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("counter")
