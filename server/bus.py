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
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from lobbywatch.protocol.ingest import Backlog
from lobbywatch.protocol.messages import Envelope

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
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()
        self.errors = 0

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Register ``callback``; returns a function that unsubscribes it."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def publish(self, messages: Sequence[Envelope], ctx: IngestContext) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(messages, ctx)
            except Exception:
                self.errors += 1
                log.exception("bus subscriber %r failed on a batch from %s", callback, ctx.gateway)
