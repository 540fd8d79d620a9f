"""SQL tables (SQLAlchemy 2 declarative). The schema itself is created by Alembic migrations.

Times are stored as naive UTC and read back timezone-aware (:class:`UtcTime`), so SQLite and
PostgreSQL behave the same.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime, stored as naive UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class Site(Base):
    __tablename__ = "sites"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_en: Mapped[str] = mapped_column(String(120))
    name_zh: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64))
    opening_hours: Mapped[str] = mapped_column(Text, doc="JSON list of {days, open, close}.")
    max_wait_s: Mapped[float] = mapped_column(Float)


class Vendor(Base):
    __tablename__ = "vendors"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)


class Device(Base):
    __tablename__ = "devices"
    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    vendor: Mapped[str] = mapped_column(String(64), index=True)
    model: Mapped[str | None] = mapped_column(String(120), nullable=True)
    zone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    configured: Mapped[bool] = mapped_column(Boolean, default=True)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    sites: Mapped[str] = mapped_column(Text, default="[]", doc="JSON list of site ids.")
    vendor: Mapped[str | None] = mapped_column(String(64), nullable=True)
    counter: Mapped[str | None] = mapped_column(
        String(64), nullable=True, doc="The counter a counter-role token is bound to."
    )
    created_at: Mapped[datetime] = mapped_column(UtcTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcTime, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(
        UtcTime, nullable=True, doc="From then on the token answers 401; None: never expires."
    )


class AckLinkUse(Base):
    """A used acknowledge link (server.core.ack_links): a link works once, across restarts."""

    __tablename__ = "ack_link_uses"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True, doc="SHA-256 of the link token.")
    alert_id: Mapped[str] = mapped_column(String(64), index=True)
    recipient: Mapped[str] = mapped_column(String(120))
    used_at: Mapped[datetime] = mapped_column(UtcTime)


class ReceivedMessage(Base):
    """Idempotency keys of accepted messages (pruned after ``dedup_retention_days``)."""

    __tablename__ = "received_messages"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(64))
    epoch: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(BigInteger)
    is_will: Mapped[bool] = mapped_column(Boolean)
    type: Mapped[str] = mapped_column(String(32))
    ts: Mapped[datetime] = mapped_column(UtcTime)
    received_at: Mapped[datetime] = mapped_column(UtcTime, index=True)
    __table_args__ = (
        UniqueConstraint("site", "source", "epoch", "seq", "is_will", name="uq_received_stream_seq"),
    )


class SeqStream(Base):
    """Sequence continuity per (site, source, epoch): visible loss as numbers."""

    __tablename__ = "seq_streams"
    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    epoch: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    highest_seq: Mapped[int] = mapped_column(BigInteger)
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    gaps: Mapped[int] = mapped_column(BigInteger, default=0)
    missing: Mapped[int] = mapped_column(BigInteger, default=0)
    late: Mapped[int] = mapped_column(BigInteger, default=0)
    last_ts: Mapped[datetime] = mapped_column(UtcTime)


class DeviceEpisode(Base):
    """A stretch of time a device spent in one state: online, offline, faulted, out_of_service."""

    __tablename__ = "device_episodes"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    start: Mapped[datetime] = mapped_column(UtcTime)
    end: Mapped[datetime | None] = mapped_column(UtcTime, nullable=True)
    fault_code: Mapped[str | None] = mapped_column(String(48), nullable=True)
    __table_args__ = (Index("ix_device_episodes_device", "site", "device", "start"),)


class DeviceFault(Base):
    """One fault of a device: raised, first acknowledged, cleared."""

    __tablename__ = "device_faults"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(64))
    vendor: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(48))
    severity: Mapped[str | None] = mapped_column(String(16), nullable=True)
    unusable: Mapped[bool] = mapped_column(Boolean, default=True)
    detail: Mapped[str | None] = mapped_column(String(500), nullable=True)
    raised_at: Mapped[datetime] = mapped_column(UtcTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcTime, nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    cleared_at: Mapped[datetime | None] = mapped_column(UtcTime, nullable=True)
    __table_args__ = (Index("ix_device_faults_device", "site", "device", "raised_at"),)


class ZoneMinute(Base):
    """Per-minute rollup of one zone: occupancy, queue length, expected and actual waits."""

    __tablename__ = "zone_minutes"
    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    zone: Mapped[str] = mapped_column(String(64), primary_key=True)
    minute: Mapped[datetime] = mapped_column(UtcTime, primary_key=True)
    samples: Mapped[int] = mapped_column(Integer, default=0)
    occupancy_sum: Mapped[float] = mapped_column(Float, default=0)
    occupancy_max: Mapped[float] = mapped_column(Float, default=0)
    queue_samples: Mapped[int] = mapped_column(Integer, default=0)
    queue_sum: Mapped[float] = mapped_column(Float, default=0)
    queue_max: Mapped[int] = mapped_column(Integer, default=0)
    expected_wait_samples: Mapped[int] = mapped_column(Integer, default=0)
    expected_wait_sum_s: Mapped[float] = mapped_column(Float, default=0)
    expected_wait_max_s: Mapped[float] = mapped_column(Float, default=0)
    waits: Mapped[int] = mapped_column(Integer, default=0)
    waits_within_limit: Mapped[int] = mapped_column(Integer, default=0)
    wait_sum_s: Mapped[float] = mapped_column(Float, default=0)
    wait_max_s: Mapped[float] = mapped_column(Float, default=0)


class VisitRow(Base):
    """One completed, anonymous visit as a camera published it (``visit`` message), and the
    customer it belongs to: ``customer`` is the row id of that customer's first camera visit
    (its own id when no other camera's visit continues it or is continued by it), set by
    :func:`server.visits.link` from :func:`server.handover.continues`; ``settled_at``: when
    :mod:`server.visit_settle` wrote the customer's final point (NULL until then);
    ``settled_as``: the customer whose point that was (the last settle's ``customer``)."""

    __tablename__ = "visits"
    __table_args__ = (
        UniqueConstraint("site", "camera", "visit", name="uq_visits_visit"),
        Index("ix_visits_site_left", "site", "left_at"),
        Index("ix_visits_customer", "customer"),
        Index("ix_visits_unsettled", "settled_at", "left_at"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(64))
    camera: Mapped[str] = mapped_column(String(64))
    visit: Mapped[str] = mapped_column(String(64))
    arrived_at: Mapped[datetime] = mapped_column(UtcTime)
    left_at: Mapped[datetime] = mapped_column(UtcTime)
    zones: Mapped[str] = mapped_column(Text, default="")
    wait_zone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    wait_started: Mapped[datetime | None] = mapped_column(UtcTime, nullable=True)
    wait_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    service_zone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    service_started: Mapped[datetime | None] = mapped_column(UtcTime, nullable=True)
    service_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    outcome: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(Text, default="")
    """The floor points of the record's path as JSON ``[[iso time, x, y], ...]``; "" without."""
    customer: Mapped[int | None] = mapped_column(BigId, nullable=True)
    settled_at: Mapped[datetime | None] = mapped_column(UtcTime, nullable=True)
    settled_as: Mapped[int | None] = mapped_column(BigId, nullable=True)


class SiteMinute(Base):
    """Per-minute rollup of a hall: arrivals and total occupancy (feeds the forecast)."""

    __tablename__ = "site_minutes"
    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    minute: Mapped[datetime] = mapped_column(UtcTime, primary_key=True)
    arrivals: Mapped[int] = mapped_column(Integer, default=0)
    occupancy_samples: Mapped[int] = mapped_column(Integer, default=0)
    occupancy_sum: Mapped[float] = mapped_column(Float, default=0)
    occupancy_max: Mapped[float] = mapped_column(Float, default=0)


class InfluxSpool(Base):
    """Line protocol accepted but not yet written to InfluxDB (written in the ingest transaction),
    and deletions of points superseded since, written in id order (server/timeseries/writer.py):
    ``kind`` ``write``, ``n_lines`` lines of line protocol for ``/write``; ``delete``,
    ``n_lines`` InfluxQL ``DELETE`` statements (one a line) for ``/query``."""

    __tablename__ = "influx_spool"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UtcTime)
    n_lines: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(8), default="write", server_default="write")


class TicketEventRow(Base):
    """One queue-ticket event (protocol ``ticket_event``) as the hall's ticket system sent it."""

    __tablename__ = "ticket_events"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, doc="The message id.")
    site: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(64))
    ticket: Mapped[str] = mapped_column(String(32))
    business: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(32))
    counter: Mapped[str | None] = mapped_column(String(64), nullable=True)
    to_counter: Mapped[str | None] = mapped_column(String(64), nullable=True)
    to_business: Mapped[str | None] = mapped_column(String(64), nullable=True)
    issued_at: Mapped[datetime] = mapped_column(UtcTime)
    at: Mapped[datetime] = mapped_column(UtcTime, doc="When it happened (the message's ts).")
    __table_args__ = (
        Index("ix_ticket_events_site_at", "site", "at"),
        Index("ix_ticket_events_ticket", "site", "ticket", "issued_at"),
    )


class DownlinkHead(Base):
    """One hall's downlink position (:mod:`server.downlink`): numbers given out, acknowledged,
    and items dropped unacknowledged (expired, or over the bound)."""

    __tablename__ = "downlink_heads"
    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    acked_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    dropped: Mapped[int] = mapped_column(BigInteger, default=0)


class DownlinkItem(Base):
    """A message queued for a hall's gateway, kept until acknowledged (or expired)."""

    __tablename__ = "downlink_items"
    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text, doc="The protocol v1 message, JSON.")
    created_at: Mapped[datetime] = mapped_column(UtcTime)
    expires_at: Mapped[datetime] = mapped_column(UtcTime)


class AlertOutbox(Base):
    """A notification handed to a channel and not known to be delivered: one row per (hall,
    channel, grouped updates), ``pending`` until the channel took it (``sent``) or every
    attempt failed (``failed``). Taken back when the server starts (docs/alerts.md, "Restarts")."""

    __tablename__ = "alert_outbox"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(64))
    updates: Mapped[str] = mapped_column(Text, doc="JSON list of the alert updates, as queued.")
    queued_at: Mapped[datetime] = mapped_column(UtcTime)
    state: Mapped[str] = mapped_column(String(16), index=True, doc="pending, sent or failed.")
    done_at: Mapped[datetime | None] = mapped_column(UtcTime, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class DeviceLog(Base):
    """A monthly device log made for one recipient of a hall: its manager (``recipient``
    ``manager``, every device) or a vendor (``vendor:<id>``, its devices), as CSV and HTML;
    ``sent_at`` once mailed. One per (site, month, recipient) (docs/server.md, "Reports")."""

    __tablename__ = "device_logs"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(64))
    month: Mapped[str] = mapped_column(String(7), doc="YYYY-MM, in the hall's time zone.")
    recipient: Mapped[str] = mapped_column(String(80))
    vendor: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcTime)
    csv: Mapped[str] = mapped_column(Text, doc="One row per device.")
    faults_csv: Mapped[str] = mapped_column(Text, doc="One row per fault, against the vendor's targets.")
    html: Mapped[str] = mapped_column(Text, doc="Both, readable, in zh-CN and en.")
    sent_at: Mapped[datetime | None] = mapped_column(UtcTime, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    __table_args__ = (UniqueConstraint("site", "month", "recipient", name="uq_device_log_recipient"),)
