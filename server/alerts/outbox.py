"""The notification outbox: what the dispatcher has to send, kept until a channel took it.

Each grouped notification (one hall, one channel, its updates) is written ``pending``
before its first attempt, marked ``sent`` once the channel accepted it and ``failed``
once every attempt failed; a server that starts resumes the pending ones
(:meth:`server.alerts.dispatch.Dispatcher.resume`). Delivery is at least once: a process
killed between a channel's answer and the mark sends that one notification again, with
the same updates (docs/alerts.md, "Restarts"). What was sent or given up is forgotten after
:data:`KEEP_DONE` (the delivery log keeps every attempt). :class:`SqlOutbox` keeps the server's table
``alert_outbox`` (``server.storage.models.AlertOutbox``); :class:`MemoryOutbox` serves tests.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

from server.alerts.model import AlertUpdate, UpdateEvent
from server.alerts.store import SqlAlertStore

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.engine import Engine

Outcome = Literal["sent", "failed"]
KEEP_DONE = timedelta(days=30)
"""How long a notification sent or given up stays in the outbox."""
_TIMES = ("started_at", "updated_at", "acked_at", "resolved_at")


@dataclass(frozen=True, slots=True)
class QueuedNotification:
    """A notification in the outbox: the grouped updates of one hall for one channel."""

    id: int
    site: str
    channel: str
    updates: tuple[AlertUpdate, ...]


class Outbox(Protocol):
    def queue(self, site: str, channel: str, updates: Sequence[AlertUpdate], at: datetime) -> int:
        """Keep a notification before its first attempt (pending); returns its id."""
        ...

    def finish(self, notification_id: int, outcome: Outcome, at: datetime, error: str | None = None) -> None:
        """The channel took it (``sent``), or every attempt failed (``failed``)."""
        ...

    def pending(self) -> list[QueuedNotification]:
        """Notifications neither sent nor given up, in the order queued."""
        ...

    def prune(self, before: datetime) -> int:
        """Forget the notifications sent or given up before ``before``; returns how many."""
        ...


def update_json(update: AlertUpdate) -> dict[str, Any]:
    """An update to send, as the outbox keeps it (the alert as it was then)."""
    alert = SqlAlertStore.row(update.alert)
    alert["params"] = update.alert.params
    for name in _TIMES:
        alert[name] = None if alert[name] is None else alert[name].isoformat()
    return {
        "alert": alert,
        "event": str(update.event),
        "at": update.at.isoformat(),
        "channels": list(update.channels),
        "audience": list(update.audience),
    }


def update_from_json(data: Mapping[str, Any]) -> AlertUpdate:
    """The update :func:`update_json` kept."""
    row = dict(data["alert"])
    row["params"] = json.dumps(row["params"])
    for name in _TIMES:
        row[name] = None if row[name] is None else datetime.fromisoformat(row[name])
    return AlertUpdate(
        SqlAlertStore.alert_of(row),
        UpdateEvent(data["event"]),
        datetime.fromisoformat(data["at"]),
        tuple(data["channels"]),
        tuple(data["audience"]),
    )


@dataclass
class MemoryOutbox:
    """An :class:`Outbox` in a dict (tests). Thread-safe."""

    queued: dict[int, QueuedNotification] = field(default_factory=dict)
    outcomes: dict[int, Outcome] = field(default_factory=dict)
    done_at: dict[int, datetime] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def queue(self, site: str, channel: str, updates: Sequence[AlertUpdate], at: datetime) -> int:
        with self._lock:
            n = len(self.queued) + 1
            self.queued[n] = QueuedNotification(n, site, channel, tuple(updates))
            return n

    def finish(self, notification_id: int, outcome: Outcome, at: datetime, error: str | None = None) -> None:
        with self._lock:
            self.outcomes[notification_id] = outcome
            self.done_at[notification_id] = at

    def pending(self) -> list[QueuedNotification]:
        with self._lock:
            return [q for n, q in sorted(self.queued.items()) if n not in self.outcomes]

    def prune(self, before: datetime) -> int:
        with self._lock:
            old = [n for n, at in self.done_at.items() if at < before]
            for n in old:
                del self.queued[n], self.outcomes[n], self.done_at[n]
            return len(old)


class SqlOutbox:
    """An :class:`Outbox` in ``alert_outbox`` (created here when no migration made it)."""

    def __init__(self, engine: Engine) -> None:
        import sqlalchemy as sa

        from server.storage.models import AlertOutbox  # SQL only here: the edge install has none

        self._sa = sa
        self.engine = engine
        self.table = cast("sa.Table", AlertOutbox.__table__)
        self.table.create(engine, checkfirst=True)

    def queue(self, site: str, channel: str, updates: Sequence[AlertUpdate], at: datetime) -> int:
        body = json.dumps([update_json(u) for u in updates], ensure_ascii=False, default=str)
        row = {"site": site, "channel": channel, "updates": body, "queued_at": at, "state": "pending"}
        with self.engine.begin() as conn:
            key = conn.execute(self.table.insert().values(**row)).inserted_primary_key
        assert key is not None
        return int(key[0])

    def finish(self, notification_id: int, outcome: Outcome, at: datetime, error: str | None = None) -> None:
        t = self.table
        done = {"state": outcome, "done_at": at, "error": error}
        with self.engine.begin() as conn:
            conn.execute(t.update().where(t.c.id == notification_id).values(**done))

    def pending(self) -> list[QueuedNotification]:
        t = self.table
        query = self._sa.select(t.c.id, t.c.site, t.c.channel, t.c.updates).where(t.c.state == "pending")
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(t.c.id)).all()
        return [
            QueuedNotification(n, site, channel, tuple(update_from_json(u) for u in json.loads(body)))
            for n, site, channel, body in rows
        ]

    def prune(self, before: datetime) -> int:
        t = self.table
        with self.engine.begin() as conn:
            done = conn.execute(t.delete().where(t.c.state != "pending", t.c.done_at < before))
        return int(done.rowcount)
