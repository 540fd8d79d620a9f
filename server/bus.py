"""The in-process message bus: the hook other server parts (the alert engine) subscribe to.

After each ingest batch is committed, every subscriber is called once with the batch's
*accepted* messages, in batch order (possibly none: a batch of duplicates still shows the
gateway is alive), in the ingest worker thread. The server context subscribes its alert
service when it starts (:class:`server.context.ServerContext`)::

    unsubscribe = ctx.bus.subscribe(alerts.on_batch)  # on_batch(messages, ingest_context)

A subscriber must be quick (hand long work to its own thread); an exception in one is
logged and counted, and never affects ingest or the other subscribers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from lobbywatch.protocol.ingest import Backlog
from lobbywatch.protocol.messages import Envelope
from server.subscribers import Subscribers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestContext:
    """Where an accepted message came from."""

    site: str
    gateway: str
    received_at: datetime
    backlog: Backlog | None = None  # the gateway's outbox when it sent the batch


Subscriber = Callable[[Sequence[Envelope], IngestContext], None]


class MessageBus:
    def __init__(self) -> None:
        self._subscribers = Subscribers[Subscriber]()
        self.errors = 0

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Register ``callback``; returns a function that unsubscribes it."""
        return self._subscribers.add(callback)

    def subscribers(self) -> list[Subscriber]:
        return self._subscribers.snapshot()

    def publish(self, messages: Sequence[Envelope], ctx: IngestContext) -> None:
        for callback in self._subscribers.snapshot():
            try:
                callback(messages, ctx)
            except Exception:
                self.errors += 1
                log.exception("bus subscriber %r failed on a batch from %s", callback, ctx.gateway)
