"""The server's seasonal forecast (:mod:`server.forecast`) as the alert engine's ForecastProvider.

Built by :class:`server.context.ServerContext` for its :class:`~server.alerts.AlertService`
(docs/alerts.md, "Wiring into the server").
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from lobbywatch.clock import Clock
from server.forecast import forecast
from server.storage.db import Database
from server.storage.models import Site


class ServerForecast:
    """Expected arrivals per open hour of a hall, for the next ``hours`` hours, from SQL history."""

    def __init__(self, db: Database, clock: Clock, hours: int = 4) -> None:
        self._db = db
        self._clock = clock
        self._hours = hours

    def forecast(self, site: str) -> Sequence[tuple[datetime, float]]:
        with self._db.session() as session:
            row = session.get(Site, site)
            if row is None:
                return []
            result = forecast(session, row, self._clock.now(), hours=self._hours)
        return [(h.start, h.arrivals) for h in result.hours if h.arrivals is not None and h.open]
