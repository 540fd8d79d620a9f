"""The message bus: how a batch's accepted messages reach the subscribers (the alert engine).

:class:`MessageBus` is the interface; :func:`build_bus` picks the implementation from the
server settings (``bus.kind``). The default, :class:`InProcessBus`, calls every subscriber in
the ingest worker thread after the batch's SQL commit, in batch order (possibly with no
messages: a batch of duplicates still shows the gateway is alive). The JetStream one
(:mod:`server.bus_jetstream`) stores the batch in a NATS stream before the SQL commit and
feeds the subscribers from a durable consumer (docs/distributed.md). Either way a subscriber
gets ``(messages, IngestContext)``; the server context subscribes its alert service. A counter's
state set on its page travels the same way, in a batch of its own (``IngestContext.by_hand``)::

    unsubscribe = ctx.bus.subscribe(alerts.on_batch)  # on_batch(messages, ingest_context)

A subscriber must be quick (hand long work to its own thread); an exception in one is
logged and counted, and never affects ingest or the other subscribers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from lobbywatch.protocol.ingest import Backlog
from lobbywatch.protocol.messages import Envelope
from server.core.config import BusConfig
from server.subscribers import Subscribers

log = logging.getLogger(__name__)


ClockRejection = tuple[str, datetime, str]
"""(source, its time, reason) of a message rejected for its time: its clock is wrong."""


@dataclass(frozen=True)
class IngestContext:
    """Where an accepted message came from."""

    site: str
    gateway: str
    received_at: datetime
    backlog: Backlog | None = None  # the gateway's outbox when it sent the batch
    sent_at: datetime | None = None  # when the gateway sent the batch (its time-series point)
    clock_rejections: tuple[ClockRejection, ...] = ()  # messages rejected for their time, in order
    by_hand: bool = False
    """Not a gateway's batch: a state set by hand on the server (a counter page's; no gateway
    was heard). Its subscribers apply its messages to their hall state, and nothing else."""


Subscriber = Callable[[Sequence[Envelope], IngestContext], None]


class BusUnavailable(RuntimeError):
    """The bus could not store a batch; nothing of it is committed and the gateway resends."""


class MessageBus(Protocol):
    """The path from "batch accepted" to the subscribers.

    Ingest calls :meth:`store` inside the batch's SQL transaction (raising aborts the batch)
    and :meth:`publish` after the commit, both under the ingest lock, in commit order; the
    counter route calls both in turn, under that lock, for a state set by hand.
    """

    errors: int  # subscriber exceptions so far

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Register ``callback``; returns a function that unsubscribes it."""
        ...

    def subscribers(self) -> list[Subscriber]: ...

    def store(self, messages: Sequence[Envelope], ctx: IngestContext) -> None:
        """Make the batch durable on the bus before the SQL commit, or raise :class:`BusUnavailable`."""
        ...

    def publish(self, messages: Sequence[Envelope], ctx: IngestContext) -> None:
        """The batch is committed (the in-process bus calls its subscribers here)."""
        ...

    def holds(self, site: str) -> bool:
        """Whether this process handles ``site``'s batches now (the JetStream bus: it holds the
        site's partition with a fresh lease); fences side effects such as notifications."""
        ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


class InProcessBus:
    """The single box: subscribers are called in the ingest thread after the commit."""

    def __init__(self) -> None:
        self._subscribers = Subscribers[Subscriber]()
        self.errors = 0

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        return self._subscribers.add(callback)

    def subscribers(self) -> list[Subscriber]:
        return self._subscribers.snapshot()

    def store(self, messages: Sequence[Envelope], ctx: IngestContext) -> None:
        """Nothing to do: the batch is delivered after the commit."""

    def publish(self, messages: Sequence[Envelope], ctx: IngestContext) -> None:
        deliver(self, messages, ctx)

    def holds(self, site: str) -> bool:
        """Always: the one process handles every hall."""
        return True

    def start(self) -> None:
        """Nothing to start."""

    def stop(self) -> None:
        """Nothing to stop."""


def deliver(bus: MessageBus, messages: Sequence[Envelope], ctx: IngestContext) -> None:
    """Call each of ``bus``'s subscribers once; a failing one is logged and counted."""
    for callback in bus.subscribers():
        try:
            callback(messages, ctx)
        except Exception:
            bus.errors += 1
            log.exception("bus subscriber %r failed on a batch from %s", callback, ctx.gateway)


def build_bus(cfg: BusConfig) -> MessageBus:
    """The bus ``cfg.kind`` names (nats-py is imported only for ``jetstream``)."""
    if cfg.kind == "jetstream":
        from server.bus_jetstream import JetStreamBus

        return JetStreamBus(cfg)
    return InProcessBus()
