"""One open alert per hall, kind and subject: a partial unique index on the open rows of
``alerts`` (``uq_alerts_open_key``, WHERE ``state <> 'resolved'``), so that two engines that both
believe they hold a hall cannot both open the same alert (docs/distributed.md, "Workers").

A database may already hold duplicates (opened before this index, by two engines during a
lease handover): of each key's open rows the newest (latest ``started_at``, then the greatest
id) stays open, the one the engine adopts at a restart; every older one is resolved, its
``resolved_at`` set to the newest one's ``started_at`` (when it was superseded) and its
``updated_at`` to the later of its own and that time. No row is deleted and no other column
changes, so the history keeps every alert. Downgrading drops the index; the duplicates it
resolved stay resolved.

The ``alerts`` table belongs to the alert store (``server.alerts.store.SqlAlertStore``), which
creates it, with this index, on a database that does not have it yet: this migration changes
nothing there.

Revision ID: 0010_alerts_open_key
Revises: 0009_visit_settled
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0010_alerts_open_key"
down_revision = "0009_visit_settled"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

INDEX = "uq_alerts_open_key"
KEY = ("site", "kind", "subject")
IS_OPEN = "state <> 'resolved'"

_ts = sa.DateTime(timezone=True)
_alerts = sa.table(
    "alerts",
    sa.column("id", sa.String),
    *(sa.column(name, sa.String) for name in KEY),
    sa.column("state", sa.String),
    sa.column("started_at", _ts),
    sa.column("updated_at", _ts),
    sa.column("resolved_at", _ts),
)


def _indexes(bind: sa.Connection) -> set[str] | None:
    """The index names of ``alerts``; None when the table does not exist."""
    inspector = sa.inspect(bind)
    if not inspector.has_table("alerts"):
        return None
    return {str(ix["name"]) for ix in inspector.get_indexes("alerts")}


def _resolve_duplicates(bind: sa.Connection) -> int:
    """Resolve every open row but the newest of its key; returns how many were resolved."""
    t = _alerts
    rows = bind.execute(sa.select(t).where(sa.text(IS_OPEN))).mappings().all()
    by_key: dict[tuple[str, ...], list[Any]] = {}
    for row in rows:
        by_key.setdefault(tuple(row[name] for name in KEY), []).append(row)
    resolved = 0
    for same in by_key.values():
        newest, *older = sorted(same, key=lambda r: (r["started_at"], r["id"]), reverse=True)
        superseded: datetime = newest["started_at"]
        for row in older:
            updated = max(row["updated_at"], superseded)
            bind.execute(
                t.update()
                .where(t.c.id == row["id"])
                .values(state="resolved", resolved_at=superseded, updated_at=updated)
            )
            resolved += 1
    return resolved


def upgrade() -> None:
    bind = op.get_bind()
    indexes = _indexes(bind)
    if indexes is None or INDEX in indexes:
        return  # no alerts yet, or the store made the table with its index
    resolved = _resolve_duplicates(bind)
    if resolved:
        log.warning("resolved %d duplicate open alerts (kept the newest of each key)", resolved)
    is_open = sa.text(IS_OPEN)
    op.create_index(INDEX, "alerts", list(KEY), unique=True, postgresql_where=is_open, sqlite_where=is_open)


def downgrade() -> None:
    indexes = _indexes(op.get_bind())
    if indexes is not None and INDEX in indexes:
        op.drop_index(INDEX, table_name="alerts")
