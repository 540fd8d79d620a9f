"""The durable downlink queue per hall: what the server has to say to a hall, kept in SQL until
the hall's gateway acknowledges it (``lobbywatch/protocol/downlink.py`` is the contract).
Besides what others queue (:meth:`DownlinkQueue.put`), it stamps the server's own device
commands and the counter states staff set (:meth:`DownlinkQueue.counter_state`).

:class:`DownlinkQueue` numbers each item with the hall's own sequence (it only grows, also
across restarts: ``downlink_heads.last_seq``), hands items above a position to the gateway's
long poll (:meth:`DownlinkQueue.wait`), and forgets them once acknowledged. Unacknowledged
items are bounded: an item older than ``keep`` is dropped unsent (a day-old alert or command
would mislead), and past ``max_pending`` items for one hall the oldest are dropped; both are
counted in ``downlink_heads.dropped`` and logged. See docs/gateway.md ("Downlink").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from lobbywatch.clock import Clock
from lobbywatch.protocol.codec import encode
from lobbywatch.protocol.downlink import MAX_ITEMS, AckResult, DownlinkBatch
from lobbywatch.protocol.downlink import DownlinkItem as ItemOut
from lobbywatch.protocol.enums import CounterStatus, DeviceCommandKind
from lobbywatch.protocol.messages import CounterStateSet, DeviceCommand, Envelope
from lobbywatch.protocol.sequence import Stamper
from server.storage.db import Database
from server.storage.models import DownlinkHead, DownlinkItem

log = logging.getLogger(__name__)

#: Unacknowledged items kept per hall, at most (the oldest beyond are dropped).
MAX_PENDING = 10_000
#: How long an unacknowledged item is kept before it is dropped unsent.
KEEP = timedelta(hours=24)
#: A waiting long poll looks at SQL this often even unwoken (items queued by another process).
RECHECK_S = 5.0
#: The ``source`` of the device commands the server stamps.
COMMAND_SOURCE = "server-commands"
#: The ``source`` of the counter states set by staff that the server stamps.
COUNTER_SOURCE = "server-counters"

M = TypeVar("M", bound=Envelope)


class DownlinkUnavailable(RuntimeError):
    """The queue could not take the messages (the database refused or is unreachable)."""


class NotGivenOut(ValueError):
    """An acknowledgement of a number the hall's sequence has not reached."""


class DownlinkQueue:
    """The per-hall downlink queue in SQL. Thread-safe; :meth:`wait` is for the event loop."""

    def __init__(
        self, db: Database, clock: Clock, *, max_pending: int = MAX_PENDING, keep: timedelta = KEEP
    ) -> None:
        self._db = db
        self._clock = clock
        self.max_pending = max_pending
        self.keep = keep
        self._lock = threading.Lock()
        self._waiting: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        self._stampers: dict[tuple[str, str], Stamper] = {}
        self._closing = False

    # ------------------------------------------------------------------ writing

    def put(self, site: str, messages: Sequence[Envelope]) -> list[int]:
        """Queue ``messages`` for ``site`` in one transaction; return their sequence numbers.
        :class:`DownlinkUnavailable` when the database does not take them."""
        if not messages:
            return []
        try:
            last = self._insert(site, messages)
        except SQLAlchemyError as exc:
            raise DownlinkUnavailable(str(exc)) from exc
        self._wake(site)
        return list(range(last - len(messages) + 1, last + 1))

    def _insert(self, site: str, messages: Sequence[Envelope]) -> int:
        """One transaction: take the numbers, add the rows, apply the bound; the last number."""
        now = self._clock.now()
        with self._db.session() as session:
            last = self._advance(session, site, len(messages))
            first = last - len(messages) + 1
            for seq, message in zip(range(first, last + 1), messages, strict=True):
                session.add(
                    DownlinkItem(
                        site=site,
                        seq=seq,
                        type=message.type,
                        body=encode(message).decode(),
                        created_at=now,
                        expires_at=now + self.keep,
                    )
                )
            self._drop(session, site, DownlinkItem.seq <= last - self.max_pending, "over the bound")
        return last

    def command(self, site: str, device: str, command: DeviceCommandKind, detail: str | None) -> int:
        """Queue a :class:`DeviceCommand` for ``device`` of ``site``; return its sequence number."""
        message = self._stamp(
            site, COMMAND_SOURCE, DeviceCommand, device=device, command=command, detail=detail
        )
        return self.put(site, [message])[0]

    def counter_state(self, site: str, counter: str, state: CounterStatus, since: datetime) -> int:
        """Queue a :class:`CounterStateSet` (a state staff set on the counter display) for the
        terminal of ``counter`` and the ticket system of ``site``; return its sequence number."""
        message = self._stamp(
            site, COUNTER_SOURCE, CounterStateSet, counter=counter, state=state, since=since
        )
        return self.put(site, [message])[0]

    def _stamp(self, site: str, source: str, cls: type[M], **fields: Any) -> M:
        """A message of ``cls`` from the server's ``source`` for ``site``, in its sequence."""
        with self._lock:
            stamper = self._stampers.get((site, source))
            if stamper is None:
                epoch = int(self._clock.now().timestamp())
                stamper = Stamper(site, source, clock=self._clock, epoch=epoch)
                self._stampers[(site, source)] = stamper
            return stamper.make(cls, **fields)

    def open_halls(self, sites: Iterable[str]) -> None:
        """Make sure every hall has its position row (numbering starts at 1)."""
        with self._db.session() as session:
            known = set(session.scalars(select(DownlinkHead.site)))
            for site in sites:
                if site not in known:
                    session.add(DownlinkHead(site=site, last_seq=0, acked_seq=0, dropped=0))

    def _advance(self, session: Session, site: str, n: int) -> int:
        """Take ``n`` numbers of ``site``'s sequence; return the last. The UPDATE comes first,
        so concurrent writers queue on the row (PostgreSQL) or the database (SQLite)."""
        last = session.execute(
            update(DownlinkHead)
            .where(DownlinkHead.site == site)
            .values(last_seq=DownlinkHead.last_seq + n)
            .returning(DownlinkHead.last_seq)
        ).scalar_one_or_none()
        if last is None:
            session.add(DownlinkHead(site=site, last_seq=n, acked_seq=0, dropped=0))
            session.flush()
            last = n
        return int(last)

    def _drop(self, session: Session, site: str, condition: ColumnElement[bool], why: str) -> None:
        """Delete ``site``'s unacknowledged items matching ``condition``, counting them."""
        removed = _delete(session, DownlinkItem.site == site, condition)
        if removed:
            session.execute(
                update(DownlinkHead)
                .where(DownlinkHead.site == site)
                .values(dropped=DownlinkHead.dropped + removed)
            )
            log.warning("downlink of %s: %d items dropped unsent (%s)", site, removed, why)

    # ------------------------------------------------------------------ reading

    def after(self, site: str, after: int, limit: int = MAX_ITEMS) -> DownlinkBatch:
        """The items of ``site`` above ``after``, oldest first (expired ones dropped first)."""
        with self._db.session() as session:
            self._drop(session, site, DownlinkItem.expires_at <= self._clock.now(), "expired")
            head = session.get(DownlinkHead, site)
            rows = session.scalars(
                select(DownlinkItem)
                .where(DownlinkItem.site == site, DownlinkItem.seq > after)
                .order_by(DownlinkItem.seq)
                .limit(limit)
            )
            items = [ItemOut(seq=r.seq, message=_json(r.body)) for r in rows]
        return DownlinkBatch(site=site, head=head.last_seq if head else 0, items=items)

    def ack(self, site: str, seq: int) -> AckResult:
        """Forget every item of ``site`` up to ``seq`` (the gateway has put them on the broker).
        :class:`NotGivenOut` when ``seq`` is above the last number given out: a gateway ahead
        of this database (replaced) must not wipe items it has never seen."""
        with self._db.session() as session:
            head = session.get(DownlinkHead, site)
            last = head.last_seq if head is not None else 0
            if seq > last:
                raise NotGivenOut(f"{site} has given out downlink numbers up to {last}, not {seq}")
            removed = _delete(session, DownlinkItem.site == site, DownlinkItem.seq <= seq)
            if head is None:
                return AckResult(acked=0, removed=removed)
            head.acked_seq = max(head.acked_seq, seq)
            return AckResult(acked=head.acked_seq, removed=removed)

    def pending(self, site: str) -> int:
        """Items of ``site`` not yet acknowledged."""
        with self._db.session() as session:
            query = select(func.count()).select_from(DownlinkItem).where(DownlinkItem.site == site)
            n = session.scalar(query)
            return int(n or 0)

    def head(self, site: str) -> DownlinkHead | None:
        """``site``'s position row (numbers given out, acknowledged, dropped)."""
        with self._db.session() as session:
            return session.get(DownlinkHead, site)

    # ------------------------------------------------------------------ long poll

    async def wait(self, site: str, after: int, wait_s: float, limit: int = MAX_ITEMS) -> DownlinkBatch:
        """:meth:`after`, waiting up to ``wait_s`` (real time) for an item when there is none:
        woken by :meth:`put` in this process, and looking again every :data:`RECHECK_S`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while True:
            event = asyncio.Event()
            waiter = (loop, event)
            with self._lock:
                self._waiting.setdefault(site, set()).add(waiter)
            try:
                batch = await asyncio.to_thread(self.after, site, after, limit)
                left = deadline - loop.time()
                if batch.items or left <= 0 or self._closing:
                    return batch
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), min(left, RECHECK_S))
            finally:
                with self._lock:
                    self._waiting.get(site, set()).discard(waiter)

    def close(self) -> None:
        """The server is stopping: answer every waiting poll now, and later ones at once (a
        waiting poll would otherwise hold the stop for up to its ``wait``)."""
        with self._lock:
            self._closing = True
            sites = list(self._waiting)
        for site in sites:
            self._wake(site)

    def waiters(self, site: str) -> int:
        """Long polls of ``site`` waiting now."""
        with self._lock:
            return len(self._waiting.get(site, ()))

    def _wake(self, site: str) -> None:
        with self._lock:
            waiters = list(self._waiting.get(site, ()))
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # that loop has closed
                loop.call_soon_threadsafe(event.set)


def _delete(session: Session, *where: ColumnElement[bool]) -> int:
    """Delete the items matching ``where``; return how many."""
    result = session.execute(delete(DownlinkItem).where(*where))
    return int(getattr(result, "rowcount", 0) or 0)


def _json(body: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(body)
    return data
