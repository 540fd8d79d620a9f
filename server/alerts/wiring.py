"""Connects the alert engine to a running server (:class:`server.context.ServerContext`).

Call :func:`attach` once the context has started (halls loaded, schema migrated)::

    app.include_router(server.alerts.api.router)      # in create_app
    app.state.alerts = attach(ctx)                    # in the lifespan, after ctx.start()
    ...
    app.state.alerts.stop()                           # before ctx.stop()

The routers serve it from ``app.state.alerts``: server/web/alerts_api.py the open alerts,
acknowledgement and the live stream; server/alerts/api.py the history, the delivery log
and silences.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lobbywatch.protocol.messages import Envelope
from server.alerts.service import AlertService
from server.alerts.store import SqlAlertStore

if TYPE_CHECKING:
    from server.bus import IngestContext
    from server.context import ServerContext

log = logging.getLogger(__name__)


class ServerForecast:
    """The server's seasonal forecast (server/forecast.py) as the engine's ForecastProvider."""

    def __init__(self, ctx: ServerContext, hours: int = 4) -> None:
        self._ctx = ctx
        self._hours = hours

    def forecast(self, site: str) -> Sequence[tuple[datetime, float]]:
        from server.forecast import forecast
        from server.storage.models import Site

        with self._ctx.db.session() as session:
            row = session.get(Site, site)
            if row is None:
                return []
            result = forecast(session, row, self._ctx.clock.now(), hours=self._hours)
        return [(h.start, h.arrivals) for h in result.hours if h.arrivals is not None and h.open]


def attach(ctx: ServerContext, *, tick_s: float = 1.0) -> AlertService:
    """Build the alert service on the server's database, InfluxDB writer, bus and clock; start it.

    One service per context: a second call returns the running one (two engines on one
    store would raise every alert twice). The service is left on ``ctx.alerts``.
    """
    running: AlertService | None = getattr(ctx, "alerts", None)
    if running is not None and running.running:
        return running
    store = SqlAlertStore(ctx.db.engine)

    def write_points(points: list[Any]) -> None:
        ctx.writer.enqueue([p.to_line_protocol() for p in points])

    service = AlertService(
        list(ctx.registry.configs.values()),
        clock=ctx.clock,
        store=store,
        forecast=ServerForecast(ctx),
        write_points=write_points,
        tick_s=tick_s,
    )

    def on_batch(messages: Sequence[Envelope], ictx: IngestContext) -> None:
        backlog = ictx.backlog
        service.engine.gateway_seen(
            ictx.site,
            gateway=ictx.gateway,
            backlog=backlog.count if backlog else 0,
            oldest_age_s=backlog.oldest_age_s if backlog else 0.0,
        )
        service.engine.feed_batch(messages)

    unsubscribe = ctx.bus.subscribe(on_batch)
    service.on_stop(unsubscribe)
    service.start()
    setattr(ctx, "alerts", service)  # noqa: B010 - ServerContext declares no such field
    return service
