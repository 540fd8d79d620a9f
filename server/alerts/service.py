"""The alert engine as a server component: engine + store + dispatcher + a ticking thread.

:class:`server.context.ServerContext` builds the one service of a server process when it
starts: :meth:`AlertService.on_batch` is subscribed to the message bus (accepted messages
and each gateway's backlog), ``start()`` runs ``engine.tick()`` every ``tick_s`` seconds (a
:class:`lobbywatch.periodic.PeriodicThread`) and
``stop()`` leaves the bus and ends the timer and the channel workers. The alerts API
(:mod:`server.api.routes.alerts`) reads and acknowledges through ``service.engine``; the
live stream listens with ``engine.add_listener``. Notifications not yet delivered are kept in
the outbox and resumed at ``start()`` (docs/alerts.md, "Restarts").
:attr:`AlertService.evaluation_seconds` times each batch's evaluation (read by the server's
``/metrics``). On the JetStream bus a worker's service evaluates only the halls of the
partitions it holds (``engine_type``: :mod:`server.alerts.partitions`) and sends only while it
holds them with a fresh lease (:class:`Fenced`: what it holds back stays in the outbox and is
sent by the partition's holder; docs/distributed.md, "Workers"). See docs/alerts.md.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from prometheus_client import Histogram

from lobbywatch.clock import Clock
from lobbywatch.config.site import SiteConfig
from lobbywatch.periodic import PeriodicThread
from lobbywatch.protocol.messages import Envelope
from server.alerts.dispatch import Dispatcher
from server.alerts.engine import AlertEngine
from server.alerts.influx import alert_points
from server.alerts.model import AlertUpdate
from server.alerts.outbox import Outbox
from server.alerts.rules import FaultProvider, ForecastProvider
from server.alerts.store import AlertStore
from server.bus import IngestContext
from server.hall_state import HallState

log = logging.getLogger(__name__)


class AlertService:
    """Owns the engine, its dispatcher and its timer."""

    def __init__(
        self,
        sites: Iterable[SiteConfig],
        *,
        clock: Clock,
        store: AlertStore,
        forecast: ForecastProvider | None = None,
        dispatcher: Dispatcher | None = None,
        write_points: Callable[[list[Any]], None] | None = None,
        tick_s: float = 1.0,
        hall: HallState | None = None,
        faults: FaultProvider | None = None,
        outbox: Outbox | None = None,
        engine_type: type[AlertEngine] = AlertEngine,
        fence: Callable[[str], bool] | None = None,
    ) -> None:
        """``outbox``: where notifications are kept until delivered (resumed at :meth:`start`),
        for the dispatcher made here; a ``dispatcher`` given is built with its own.
        ``engine_type`` and ``fence`` (whether a hall's notifications may go out now): a worker
        holding some partitions of the bus (:mod:`server.alerts.partitions`)."""
        if dispatcher is not None and outbox is not None:
            raise ValueError("give the outbox to the dispatcher (Dispatcher(outbox=...)), not both")
        sites = list(sites)
        self._configs = {cfg.site: cfg for cfg in sites}
        self.store = store
        self.dispatcher = (
            dispatcher if dispatcher is not None else Dispatcher(clock=clock, store=store, outbox=outbox)
        )
        self.fenced = None if fence is None else Fenced(self.dispatcher, fence)
        self.engine = engine_type(
            sites,
            clock=clock,
            store=store,
            notifier=self.dispatcher if self.fenced is None else self.fenced,
            forecast=forecast,
            hall=hall,
            faults=faults,
        )
        if write_points is not None:
            writer = write_points

            def to_influx(update: AlertUpdate) -> None:
                writer(alert_points(update))

            self.engine.add_listener(to_influx)
        # Unregistered: the server's metrics collector reads it at scrape time.
        self.evaluation_seconds = Histogram(
            "lobbywatch_server_alert_evaluation_duration_seconds",
            "Seconds the alert engine took over each ingest batch (in the ingest thread).",
            registry=None,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
        )
        self._ticker = PeriodicThread("alerts-tick", tick_s, self._tick)
        self._on_stop: list[Callable[[], None]] = []

    @property
    def running(self) -> bool:
        return self._ticker.running

    def on_stop(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when the service stops (e.g. to leave the message bus)."""
        self._on_stop.append(callback)

    def on_batch(self, messages: Sequence[Envelope], ctx: IngestContext) -> None:
        """The message-bus subscriber: the gateway was heard (with its backlog), then the messages."""
        started = time.perf_counter()
        feed(self.engine, messages, ctx)
        if not ctx.by_hand:  # evaluated: a state set by hand is only applied
            self.evaluation_seconds.observe(time.perf_counter() - started)

    def start(self) -> None:
        """Resume the notifications a previous process left pending (a worker: per partition
        taken, :mod:`server.alerts.partitions`), then tick."""
        if self._ticker.running:
            return
        resumed = self.dispatcher.resume(self._configs) if self.fenced is None else 0
        if resumed:
            log.info("resumed %d pending notifications", resumed)
        self._ticker.start()

    def _tick(self) -> None:
        """The engine's timers, then what the fence held back for halls held again."""
        self.engine.tick()
        if self.fenced is not None:
            self.fenced.release()

    def stop(self) -> None:
        for callback in self._on_stop:
            try:
                callback()
            except Exception:
                log.exception("alert service stop callback failed")
        self._on_stop.clear()
        self._ticker.stop(5)
        self.dispatcher.close()


def feed(engine: AlertEngine, messages: Sequence[Envelope], ctx: IngestContext) -> list[AlertUpdate]:
    """One batch into ``engine``: the gateway was heard (with its backlog), then the messages. A
    state set by hand on the server (``ctx.by_hand``) only goes onto the engine's hall state: no
    gateway was heard, and evaluating it would end a hall's catch-up on late data."""
    if ctx.by_hand:
        engine.apply_by_hand(messages)
        return []
    backlog = ctx.backlog
    out = engine.gateway_seen(
        ctx.site,
        gateway=ctx.gateway,
        backlog=backlog.count if backlog else 0,
        oldest_age_s=backlog.oldest_age_s if backlog else 0.0,
    )
    out += engine.feed_batch(messages)
    if engine.feeds_hall:  # its own hall state (a worker's): the batch's clock rejections too
        for source, stamped, reason in ctx.clock_rejections:
            engine.hall.clock_rejected(ctx.site, source, stamped, reason)
    return out


class Fenced:
    """A notifier that sends only for halls whose partition this process holds with a fresh
    lease. What it holds back is kept in the outbox (pending), never dropped: the engine has
    recorded those alerts, so nobody would raise them again. :meth:`release` sends them once
    the lease is fresh again (it was only not renewed in time, e.g. while NATS elected a
    leader); a worker that takes the partition instead resumes them from the outbox with the
    rest (docs/distributed.md, "Workers")."""

    def __init__(self, inner: Dispatcher, holds: Callable[[str], bool]) -> None:
        self.inner = inner
        self.holds = holds
        self.fenced = 0  # submissions held back
        self._waiting: dict[str, SiteConfig] = {}  # halls with notifications held back
        self._lock = threading.Lock()

    def submit(self, site: SiteConfig, updates: Sequence[AlertUpdate]) -> None:
        if self.holds(site.site):
            self.inner.submit(site, updates)
            return
        self.fenced += 1
        self.inner.keep(site, updates)
        with self._lock:
            self._waiting[site.site] = site
        log.warning(
            "holding back %d updates of %s in the outbox: its partition is not held with a fresh lease",
            len(updates),
            site.site,
        )

    def release(self) -> int:
        """Send what was held back for the halls held with a fresh lease now (from the outbox:
        what another worker sent meanwhile is no longer pending); how many were queued."""
        with self._lock:
            ready = {s: cfg for s, cfg in self._waiting.items() if self.holds(s)}
            for s in ready:
                del self._waiting[s]
        return self.inner.resume(ready, only=ready) if ready else 0
