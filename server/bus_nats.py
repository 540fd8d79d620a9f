"""One NATS connection for a server process's role feeds on the JetStream bus: the stream's
writers (:mod:`server.bus_writers`), the API's live state (:mod:`server.bus_live`) and the
alert events (:mod:`server.bus_events`). docs/distributed.md, "Roles".

Like the bus (:mod:`server.bus_jetstream`), the asyncio client lives on an event loop in its
own thread; other threads hand it coroutines with :meth:`NatsLink.run`. The link is separate
from the bus's connection so that a feed's callbacks never wait behind ingest's publishes.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Coroutine
from typing import Any, Protocol, TypeVar

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext

from server.bus import BusUnavailable
from server.bus_loop import EventLoopThread
from server.core.config import BusConfig

log = logging.getLogger(__name__)

T = TypeVar("T")


class Feed(Protocol):
    """A role's consumer on the link: started after the bus, stopped before it."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class NatsLink:
    """A NATS connection (reconnecting forever once made) on its own event-loop thread."""

    def __init__(self, cfg: BusConfig, name: str) -> None:
        self.cfg = cfg
        self.name = name
        self.io = EventLoopThread(f"nats-{name}")
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None

    @property
    def nc(self) -> Client:
        assert self._nc is not None, "the link is not started"
        return self._nc

    @property
    def js(self) -> JetStreamContext:
        assert self._js is not None, "the link is not started"
        return self._js

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self.io.loop

    def subject(self, *tokens: str) -> str:
        """A core NATS subject of this installation outside the stream's (``<prefix>-events...``)."""
        return ".".join((f"{self.cfg.subject_prefix}-events", *tokens))

    def start(self) -> None:
        """Connect within ``publish_timeout_s`` or raise :class:`BusUnavailable`."""
        self.io.start()
        try:
            self.run(self._connect(), self.cfg.publish_timeout_s + 5)
        except Exception as exc:
            self.stop()
            raise BusUnavailable(f"cannot connect to NATS at {', '.join(self.cfg.servers)}: {exc}") from exc

    async def _connect(self) -> None:
        connecting = nats.connect(
            servers=self.cfg.servers,
            name=f"lobbywatch-{self.name}-{os.getpid()}",
            connect_timeout=5,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
        )
        self._nc = await asyncio.wait_for(connecting, self.cfg.publish_timeout_s)
        self._js = self._nc.jetstream(timeout=self.cfg.publish_timeout_s)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        return self.io.run(coro, timeout)

    def stop(self) -> None:
        if self._nc is not None:
            try:
                self.run(self._nc.close(), 10)
            except Exception:
                log.exception("closing the %s NATS connection failed", self.name)
            self._nc = None
        self.io.stop()
