"""Where alerts and their delivery log live: a Protocol, in memory, and SQL (SQLAlchemy 2).

The SQL store owns its tables (``alerts``, ``alert_deliveries``) in its own metadata and
creates them with ``create_all``, so it never clashes with the server's migrations; a
column added since a database was created is added to it at start (:data:`ADDED_COLUMNS`).
A hall has at most one open alert per kind and subject (:data:`OPEN_KEY`; in SQL a partial
unique index, added to older databases by migration ``0010_alerts_open_key``): the second
engine to open one gets the stored one back (docs/distributed.md, "Workers").
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from lobbywatch.config.notify import Silence
from lobbywatch.protocol.enums import AlertState, Severity
from server.alerts.model import Alert, Delivery, MuteReason

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


class AlertStore(Protocol):
    """Persistence of alerts (one row per alert, updated in place) and deliveries."""

    def save(self, alert: Alert) -> Alert:
        """Insert or update ``alert`` (keyed by its id); returns the alert stored: ``alert``, or,
        when another alert of its hall, kind and subject is open already (:data:`OPEN_KEY`),
        that one, and ``alert`` is not stored."""
        ...

    def get(self, alert_id: str) -> Alert | None: ...

    def open_alerts(self, site: str | None = None) -> list[Alert]:
        """Alerts not resolved, oldest first."""
        ...

    def history(
        self, site: str | None = None, since: datetime | None = None, limit: int = 500
    ) -> list[Alert]:
        """Alerts started at or after ``since``, newest first."""
        ...

    def add_delivery(self, delivery: Delivery) -> None: ...

    def deliveries(self, alert_id: str) -> list[Delivery]:
        """The delivery log of one alert, in order."""
        ...

    def add_silence(self, site: str, silence: Silence) -> None:
        """Keep a silence set at run time (the API's), so it outlives a restart."""
        ...

    def silences(self, site: str, now: datetime) -> list[Silence]:
        """The run-time silences of ``site`` not yet ended at ``now``, in the order set."""
        ...


OPEN_KEY = ("site", "kind", "subject")
"""What makes an alert the same alert: one open (not resolved) alert per key."""
OPEN_KEY_INDEX = "uq_alerts_open_key"
"""The partial unique index on :data:`OPEN_KEY` over the open rows of ``alerts``."""


def _key(alert: Alert) -> tuple[str, ...]:
    """The :data:`OPEN_KEY` of ``alert``."""
    return tuple(getattr(alert, f) for f in OPEN_KEY)


class MemoryAlertStore:
    """An :class:`AlertStore` in a dict (tests, replay). Thread-safe."""

    def __init__(self) -> None:
        self._alerts: dict[str, Alert] = {}
        self._open: dict[tuple[str, ...], str] = {}  # OPEN_KEY -> the id of the open alert
        self._deliveries: list[Delivery] = []
        self._silences: list[tuple[str, Silence]] = []
        self._lock = threading.Lock()

    def save(self, alert: Alert) -> Alert:
        key = _key(alert)
        with self._lock:
            holder = self._open.get(key)
            if alert.is_open:
                if holder is not None and holder != alert.id:
                    return self._alerts[holder]
                self._open[key] = alert.id
            elif holder == alert.id:
                del self._open[key]
            self._alerts[alert.id] = alert
            return alert

    def get(self, alert_id: str) -> Alert | None:
        with self._lock:
            return self._alerts.get(alert_id)

    def open_alerts(self, site: str | None = None) -> list[Alert]:
        with self._lock:
            found = [a for a in self._alerts.values() if a.is_open and site in (None, a.site)]
        return sorted(found, key=lambda a: a.started_at)

    def history(
        self, site: str | None = None, since: datetime | None = None, limit: int = 500
    ) -> list[Alert]:
        with self._lock:
            found = [
                a
                for a in self._alerts.values()
                if site in (None, a.site) and (since is None or a.started_at >= since)
            ]
        return sorted(found, key=lambda a: a.started_at, reverse=True)[:limit]

    def add_delivery(self, delivery: Delivery) -> None:
        with self._lock:
            self._deliveries.append(delivery)

    def deliveries(self, alert_id: str) -> list[Delivery]:
        with self._lock:
            return [d for d in self._deliveries if d.alert_id == alert_id]

    def add_silence(self, site: str, silence: Silence) -> None:
        with self._lock:
            self._silences.append((site, silence))

    def silences(self, site: str, now: datetime) -> list[Silence]:
        with self._lock:
            return [s for at, s in self._silences if at == site and s.ends > now]


ADDED_COLUMNS: dict[str, tuple[str, ...]] = {
    "alerts": ("muted",),
    "alert_deliveries": ("skipped",),
}
"""Nullable columns newer than the first version of each table."""


def _muted(raw: str | None) -> MuteReason | None:
    if not raw:
        return None
    m = json.loads(raw)
    return MuteReason(m["kind"], m["key"], m.get("source", ""))


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class SqlAlertStore:
    """An :class:`AlertStore` on SQLite or PostgreSQL through SQLAlchemy 2 Core."""

    def __init__(self, url_or_engine: str | Engine) -> None:
        import sqlalchemy as sa

        self._sa = sa
        self.engine = sa.create_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
        self.metadata = sa.MetaData()
        ts = sa.DateTime(timezone=True)
        self.alerts = sa.Table(
            "alerts",
            self.metadata,
            sa.Column("id", sa.String(64), primary_key=True),
            sa.Column("site", sa.String(64), nullable=False, index=True),
            sa.Column("kind", sa.String(64), nullable=False),
            sa.Column("subject", sa.String(200), nullable=False),
            sa.Column("severity", sa.String(16), nullable=False),
            sa.Column("state", sa.String(16), nullable=False, index=True),
            sa.Column("audience", sa.String(200), nullable=False),
            sa.Column("zone", sa.String(64)),
            sa.Column("device", sa.String(64)),
            sa.Column("vendor", sa.String(64)),
            sa.Column("params", sa.Text, nullable=False),
            sa.Column("started_at", ts, nullable=False, index=True),
            sa.Column("updated_at", ts, nullable=False),
            sa.Column("acked_by", sa.String(120)),
            sa.Column("acked_at", ts),
            sa.Column("ack_comment", sa.Text),
            sa.Column("resolved_at", ts),
            sa.Column("escalation_level", sa.Integer, nullable=False, default=0),
            sa.Column("reopen_count", sa.Integer, nullable=False, default=0),
            sa.Column("silenced", sa.Boolean, nullable=False, default=False),
            sa.Column("muted", sa.Text),  # JSON {kind, key, source}
        )
        is_open = sa.text(f"state <> '{AlertState.RESOLVED}'")
        sa.Index(
            OPEN_KEY_INDEX,
            *(self.alerts.c[f] for f in OPEN_KEY),
            unique=True,
            postgresql_where=is_open,
            sqlite_where=is_open,
        )
        self.deliveries_table = sa.Table(
            "alert_deliveries",
            self.metadata,
            sa.Column("n", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("alert_id", sa.String(64), nullable=False, index=True),
            sa.Column("channel", sa.String(64), nullable=False),
            sa.Column("event", sa.String(32), nullable=False),
            sa.Column("attempt", sa.Integer, nullable=False),
            sa.Column("ok", sa.Boolean, nullable=False),
            sa.Column("at", ts, nullable=False),
            sa.Column("latency_ms", sa.Float, nullable=False),
            sa.Column("error", sa.Text),
            sa.Column("skipped", sa.Text),
        )
        self.silences_table = sa.Table(
            "alert_silences",
            self.metadata,
            sa.Column("n", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("site", sa.String(64), nullable=False, index=True),
            sa.Column("ends", ts, nullable=False),
            sa.Column("body", sa.Text, nullable=False),  # the Silence as JSON
        )
        self.metadata.create_all(self.engine)
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        """Bring a database created by an older version up to these tables."""
        sa = self._sa
        inspector = sa.inspect(self.engine)
        for table in (self.alerts, self.deliveries_table):
            have = {c["name"] for c in inspector.get_columns(table.name)}
            for name in ADDED_COLUMNS[table.name]:
                if name not in have:
                    column = table.c[name]
                    kind = column.type.compile(dialect=self.engine.dialect)
                    with self.engine.begin() as conn:
                        conn.execute(sa.text(f"ALTER TABLE {table.name} ADD COLUMN {name} {kind}"))

    @staticmethod
    def row(alert: Alert) -> dict[str, Any]:
        """The ``alerts`` row of ``alert``."""
        return {
            "id": alert.id,
            "site": alert.site,
            "kind": alert.kind,
            "subject": alert.subject,
            "severity": str(alert.severity),
            "state": str(alert.state),
            "audience": ",".join(alert.audience),
            "zone": alert.zone,
            "device": alert.device,
            "vendor": alert.vendor,
            "params": json.dumps(alert.params, ensure_ascii=False, default=str),
            "started_at": alert.started_at,
            "updated_at": alert.updated_at,
            "acked_by": alert.acked_by,
            "acked_at": alert.acked_at,
            "ack_comment": alert.ack_comment,
            "resolved_at": alert.resolved_at,
            "escalation_level": alert.escalation_level,
            "reopen_count": alert.reopen_count,
            "silenced": alert.silenced,
            "muted": None
            if alert.muted is None
            else json.dumps(
                {"kind": alert.muted.kind, "key": str(alert.muted.key), "source": alert.muted.source},
                ensure_ascii=False,
            ),
        }

    @staticmethod
    def alert_of(m: Mapping[Any, Any]) -> Alert:
        """The alert of an ``alerts`` row (its mapping)."""
        started = _utc(m["started_at"])
        updated = _utc(m["updated_at"])
        assert started is not None
        assert updated is not None
        return Alert(
            id=m["id"],
            site=m["site"],
            kind=m["kind"],
            subject=m["subject"],
            severity=Severity(m["severity"]),
            state=AlertState(m["state"]),
            audience=tuple(a for a in m["audience"].split(",") if a),
            started_at=started,
            updated_at=updated,
            params=json.loads(m["params"]),
            zone=m["zone"],
            device=m["device"],
            vendor=m["vendor"],
            acked_by=m["acked_by"],
            acked_at=_utc(m["acked_at"]),
            ack_comment=m["ack_comment"],
            resolved_at=_utc(m["resolved_at"]),
            escalation_level=m["escalation_level"],
            reopen_count=m["reopen_count"],
            muted=_muted(m["muted"]),
        )

    def save(self, alert: Alert) -> Alert:
        """Update the row of ``alert``'s id, else insert it. An open row of another id with the same
        key (:data:`OPEN_KEY`) makes the write fail on the unique index (on PostgreSQL, once the
        other writer committed): that row is returned instead."""
        try:
            self._write(alert)
        except self._sa.exc.IntegrityError:
            holder = self._holder(alert)
            if holder is None:  # resolved in between, or another constraint: try once more
                self._write(alert)
                return alert
            return holder
        return alert

    def _write(self, alert: Alert) -> None:
        row = self.row(alert)
        t = self.alerts
        with self.engine.begin() as conn:
            done = conn.execute(t.update().where(t.c.id == alert.id).values(**row))
            if done.rowcount == 0:
                conn.execute(t.insert().values(**row))

    def _holder(self, alert: Alert) -> Alert | None:
        """The open row of another id with ``alert``'s key (:data:`OPEN_KEY`), if any."""
        t = self.alerts
        q = self._sa.select(t).where(
            *(t.c[f] == getattr(alert, f) for f in OPEN_KEY),
            t.c.state != str(AlertState.RESOLVED),
            t.c.id != alert.id,
        )
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        return None if row is None else self.alert_of(row._mapping)

    def get(self, alert_id: str) -> Alert | None:
        t = self.alerts
        with self.engine.connect() as conn:
            row = conn.execute(self._sa.select(t).where(t.c.id == alert_id)).first()
        return None if row is None else self.alert_of(row._mapping)

    def open_alerts(self, site: str | None = None) -> list[Alert]:
        t = self.alerts
        q = self._sa.select(t).where(t.c.state != str(AlertState.RESOLVED)).order_by(t.c.started_at)
        if site is not None:
            q = q.where(t.c.site == site)
        with self.engine.connect() as conn:
            return [self.alert_of(r._mapping) for r in conn.execute(q)]

    def history(
        self, site: str | None = None, since: datetime | None = None, limit: int = 500
    ) -> list[Alert]:
        t = self.alerts
        q = self._sa.select(t).order_by(t.c.started_at.desc()).limit(limit)
        if site is not None:
            q = q.where(t.c.site == site)
        if since is not None:
            q = q.where(t.c.started_at >= since)
        with self.engine.connect() as conn:
            return [self.alert_of(r._mapping) for r in conn.execute(q)]

    def add_delivery(self, delivery: Delivery) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                self.deliveries_table.insert().values(
                    alert_id=delivery.alert_id,
                    channel=delivery.channel,
                    event=delivery.event,
                    attempt=delivery.attempt,
                    ok=delivery.ok,
                    at=delivery.at,
                    latency_ms=delivery.latency_ms,
                    error=delivery.error,
                    skipped=delivery.skipped,
                )
            )

    def deliveries(self, alert_id: str) -> list[Delivery]:
        t = self.deliveries_table
        with self.engine.connect() as conn:
            rows = conn.execute(self._sa.select(t).where(t.c.alert_id == alert_id).order_by(t.c.n))
            out = []
            for r in rows:
                m = r._mapping
                at = _utc(m["at"])
                assert at is not None
                out.append(
                    Delivery(
                        alert_id=m["alert_id"],
                        channel=m["channel"],
                        event=m["event"],
                        attempt=m["attempt"],
                        ok=bool(m["ok"]),
                        at=at,
                        latency_ms=m["latency_ms"],
                        error=m["error"],
                        skipped=m["skipped"],
                    )
                )
        return out

    def add_silence(self, site: str, silence: Silence) -> None:
        t = self.silences_table
        with self.engine.begin() as conn:
            conn.execute(t.insert().values(site=site, ends=silence.ends, body=silence.model_dump_json()))

    def silences(self, site: str, now: datetime) -> list[Silence]:
        t = self.silences_table
        query = self._sa.select(t.c.body).where(t.c.site == site, t.c.ends > now).order_by(t.c.n)
        with self.engine.connect() as conn:
            return [Silence.model_validate_json(body) for (body,) in conn.execute(query)]
