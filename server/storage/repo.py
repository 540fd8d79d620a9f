"""Repository functions: the SQL the API and the reports need, in one place."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from lobbywatch.config.site import SiteConfig
from server.core.config import BootstrapToken
from server.core.security import create_token
from server.storage.models import (
    ApiToken,
    Device,
    InfluxSpool,
    ReceivedMessage,
    SeqStream,
    Site,
    Vendor,
)

log = logging.getLogger(__name__)


def opening_hours_json(cfg: SiteConfig) -> str:
    return json.dumps(
        [
            {
                "days": [d.value for d in p.days],
                "open": p.open.strftime("%H:%M"),
                "close": p.close.strftime("%H:%M"),
            }
            for p in cfg.opening_hours
        ]
    )


def sync_sites(session: Session, configs: Iterable[SiteConfig]) -> None:
    """Insert or update sites, vendors and devices from hall configurations."""
    vendors = set(session.scalars(select(Vendor.id)))
    for cfg in configs:
        site = session.get(Site, cfg.site) or Site(id=cfg.site)
        site.name_en = cfg.name.en
        site.name_zh = cfg.name.zh_cn
        site.timezone = cfg.timezone
        site.opening_hours = opening_hours_json(cfg)
        site.max_wait_s = cfg.thresholds.max_wait_min * 60
        session.add(site)
        for dev in cfg.devices:
            if dev.vendor not in vendors:
                session.add(Vendor(id=dev.vendor))
                vendors.add(dev.vendor)
            row = session.get(Device, (cfg.site, dev.id)) or Device(site=cfg.site, id=dev.id)
            row.kind = dev.kind.value
            row.vendor = dev.vendor
            row.model = dev.model
            row.zone = dev.zone
            row.configured = True
            session.add(row)


def ensure_device(session: Session, site: str, device: str, vendor: str = "unknown") -> Device:
    """The device row, created for a device that reports without being configured."""
    row = session.get(Device, (site, device))
    if row is None:
        if session.get(Vendor, vendor) is None:
            session.add(Vendor(id=vendor))
        row = Device(site=site, id=device, vendor=vendor, configured=False)
        session.add(row)
        session.flush()
    return row


def bootstrap_tokens(session: Session, tokens: Iterable[BootstrapToken], now: datetime) -> int:
    """Create the configured tokens that do not exist yet; returns how many were created."""
    import hashlib

    created = 0
    for t in tokens:
        if t.sha256 is not None:
            digest = t.sha256
        else:
            assert t.token_file is not None
            digest = hashlib.sha256(t.token_file.read_text(encoding="utf-8").strip().encode()).hexdigest()
        if session.scalar(select(ApiToken.id).where(ApiToken.token_hash == digest)) is not None:
            continue
        create_token(
            session,
            name=t.name,
            role=t.role,
            created_at=now,
            sites=t.sites,
            vendor=t.vendor,
            counter=t.counter,
            token_hash=digest,
        )
        created += 1
    return created


def prune_received(session: Session, before: datetime) -> int:
    """Forget idempotency keys received before ``before`` (retention policy)."""
    result = session.execute(delete(ReceivedMessage).where(ReceivedMessage.received_at < before))
    return int(getattr(result, "rowcount", 0) or 0)


def sql_time(when: datetime) -> str:
    """An aware datetime as the naive-UTC text :class:`~server.storage.models.UtcTime` stores.

    SQLite keeps exactly this text (SQLAlchemy's own format, so ORM reads parse it back) and
    PostgreSQL casts it to ``timestamp``. For the raw statements below only.
    """
    if when.utcoffset():
        when = when.astimezone(UTC)
    return when.isoformat(" ", "microseconds")[:26]


class _RawStatement:
    """One INSERT/UPDATE run through the DB-API ``executemany``, its text made once per dialect.

    The hot path of ingest: SQLAlchemy's per-row parameter processing and the ORM's unit of
    work cost more than the statements themselves. Rows are tuples in placeholder order,
    times as :func:`sql_time` text.
    """

    def __init__(self, qmark_sql: str) -> None:
        self._by_style = {"qmark": qmark_sql, "other": qmark_sql.replace("?", "%s")}

    def run(self, session: Session, rows: Sequence[tuple[object, ...]]) -> None:
        conn = session.connection()
        style = "qmark" if conn.dialect.paramstyle == "qmark" else "other"
        conn.exec_driver_sql(self._by_style[style], list(rows))


def _insert(table: str, columns: Sequence[str]) -> _RawStatement:
    return _RawStatement(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    )


_KEYS = _insert(ReceivedMessage.__tablename__, [c.name for c in ReceivedMessage.__table__.columns])
_STREAM_VALUES = ("highest_seq", "received", "gaps", "missing", "late", "last_ts")
_STREAM_KEY = ("site", "source", "epoch")
_NEW_STREAMS = _insert(SeqStream.__tablename__, _STREAM_VALUES + _STREAM_KEY)
_STREAMS = _RawStatement(
    f"UPDATE {SeqStream.__tablename__} SET {', '.join(f'{c} = ?' for c in _STREAM_VALUES)} "
    f"WHERE {' AND '.join(f'{c} = ?' for c in _STREAM_KEY)}"
)
_SPOOL = _insert(InfluxSpool.__tablename__, ("created_at", "n_lines", "body"))


def insert_keys(session: Session, rows: Sequence[tuple[object, ...]]) -> None:
    """Insert idempotency keys: rows of (id, site, source, epoch, seq, is_will, type, ts,
    received_at), the ``received_messages`` columns in order."""
    _KEYS.run(session, rows)


def save_streams(
    session: Session, new: Sequence[tuple[object, ...]], changed: Sequence[tuple[object, ...]]
) -> None:
    """Insert ``new`` and update ``changed`` sequence streams; rows of (highest_seq, received,
    gaps, missing, late, last_ts, site, source, epoch)."""
    if new:
        _NEW_STREAMS.run(session, new)
    if changed:
        _STREAMS.run(session, changed)


def insert_spool(session: Session, created_at: datetime, n_lines: int, body: str) -> None:
    """Add one chunk of line protocol to the InfluxDB spool (once per ingest batch)."""
    _SPOOL.run(session, [(sql_time(created_at), n_lines, body)])
