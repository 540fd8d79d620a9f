"""The alert engine as a server component: engine + store + dispatcher + a ticking thread.

:func:`server.alerts.wiring.attach` builds one :class:`AlertService` at start-up and
connects it; the server then calls:

* ``service.engine.gateway_seen(site, gateway=..., backlog=..., oldest_age_s=...)`` and
  ``service.engine.feed_batch(messages)`` for every accepted ingest batch;
* ``service.engine.acknowledge(alert_id, by=user, comment=...)`` from the acknowledge API;
* ``service.engine.add_listener(callback)`` for the live (server-sent events) fan-out.

``start()`` runs ``engine.tick()`` every ``tick_s`` seconds; ``stop()`` ends it and the
channel workers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from lobbywatch.clock import Clock
from lobbywatch.config.site import SiteConfig
from server.alerts.dispatch import Dispatcher
from server.alerts.engine import AlertEngine
from server.alerts.influx import alert_points
from server.alerts.model import AlertUpdate
from server.alerts.rules import ForecastProvider
from server.alerts.store import AlertStore

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
    ) -> None:
        self.store = store
        self.dispatcher = dispatcher if dispatcher is not None else Dispatcher(clock=clock, store=store)
        self.engine = AlertEngine(
            sites, clock=clock, store=store, notifier=self.dispatcher, forecast=forecast
        )
        if write_points is not None:
            writer = write_points

            def to_influx(update: AlertUpdate) -> None:
                writer(alert_points(update))

            self.engine.add_listener(to_influx)
        self.tick_s = tick_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_stop: list[Callable[[], None]] = []

    @property
    def running(self) -> bool:
        return self._thread is not None

    def on_stop(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when the service stops (e.g. to leave the message bus)."""
        self._on_stop.append(callback)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="alerts-tick", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.tick_s):
            try:
                self.engine.tick()
            except Exception:  # the timer must survive anything
                log.exception("alert tick failed")

    def stop(self) -> None:
        for callback in self._on_stop:
            try:
                callback()
            except Exception:
                log.exception("alert service stop callback failed")
        self._on_stop.clear()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self.dispatcher.close()
