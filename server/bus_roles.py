"""What a server process on the JetStream bus runs for its roles, besides ingest and the alert
engine: one NATS link (:class:`server.bus_nats.NatsLink`) and the feeds on it. docs/distributed.md,
"Roles" has the table of which state lives where.

* WRITER: :class:`server.bus_writers.WriterQueue`, the stream's batches into InfluxDB (unless
  ``influx.enabled`` is off).
* API: :class:`server.bus_live.LiveFeed` (every site's live state) and
  :class:`server.bus_events.RemoteAlerts` (alerts from SQL, changes through the owning worker).
* WORKER: :class:`server.bus_events.AlertEvents` (the engine's updates out, changes in), started
  once the engine runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from server.alerts.service import AlertService
from server.alerts.store import SqlAlertStore
from server.bus_events import AlertEvents, RemoteAlerts
from server.bus_live import LiveFeed
from server.bus_nats import Feed, NatsLink
from server.bus_writers import WriterQueue
from server.roles import ServerRole

if TYPE_CHECKING:
    from server.context import ServerContext

log = logging.getLogger(__name__)


class RoleFeeds:
    """The link and the feeds of one process; :meth:`stop` ends them in reverse order."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.link = NatsLink(ctx.settings.bus, "roles")
        self.feeds: list[Feed] = []
        self.writers: WriterQueue | None = None
        self.live: LiveFeed | None = None
        self.remote_alerts: RemoteAlerts | None = None

    def start(self) -> None:
        """Connect, then start the WRITER and API feeds this process's roles call for."""
        ctx = self.ctx
        self.link.start()
        if ctx.settings.has_role(ServerRole.WRITER) and ctx.settings.influx.enabled:
            self.writers = WriterQueue(self.link, ctx.writer, ctx.registry.wait_limit_s)
            self._start(self.writers)
        if ctx.settings.has_role(ServerRole.API):
            self.live = LiveFeed(self.link, ctx.live, ctx.registry, ctx.clock)
            self._start(self.live)
            self.remote_alerts = RemoteAlerts(self.link, SqlAlertStore(ctx.db.engine))
            self._start(self.remote_alerts)
        log.info("role feeds started: %s", ", ".join(type(f).__name__ for f in self.feeds) or "none")

    def start_worker(self, service: AlertService, owns: Callable[[str], bool]) -> None:
        """The engine runs: publish its updates, take the changes asked for the sites it owns."""
        self._start(AlertEvents(self.link, service, owns))

    def _start(self, feed: Feed) -> None:
        feed.start()
        self.feeds.append(feed)

    def stop(self) -> None:
        for feed in reversed(self.feeds):
            try:
                feed.stop()
            except Exception:
                log.exception("stopping %s failed", type(feed).__name__)
        self.feeds.clear()
        self.link.stop()
