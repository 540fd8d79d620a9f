"""A forecast provider for the alert engine tests, shaped like the server's."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from lobbywatch.clock import FixedClock


class HourlyForecast:
    """Expected arrivals per hour start (UTC), given from the running hour on, as
    :class:`server.alerts.forecast.ServerForecast` gives them; ``hours`` may change meanwhile."""

    def __init__(self, clock: FixedClock, hours: dict[datetime, float]) -> None:
        self.clock = clock
        self.hours = hours

    def forecast(self, site: str) -> Sequence[tuple[datetime, float]]:
        this_hour = self.clock.now().replace(minute=0, second=0, microsecond=0)
        return sorted((start, n) for start, n in self.hours.items() if start >= this_hour)
