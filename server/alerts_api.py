"""What the alert routes need of the alerts (:data:`server.api.deps.AlertsDep`): the running
:class:`~server.alerts.AlertService` on the single box, or, in an API replica on the JetStream
bus, :class:`server.bus_events.RemoteAlerts` (SQL for reads, the owning worker for changes).
docs/distributed.md, "Roles".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from lobbywatch.config.notify import Silence
from server.alerts.model import Alert, AlertUpdate
from server.alerts.store import AlertStore


class AlertsUnavailable(RuntimeError):
    """No worker answered a change asked through an API replica: it was not made (503)."""


class AlertEngineApi(Protocol):
    """The engine's public interface, as the routes use it."""

    def open_alerts(self, site: str | None = None) -> list[Alert]: ...

    def get(self, alert_id: str) -> Alert | None: ...

    def acknowledge(self, alert_id: str, by: str, comment: str | None = None) -> Alert: ...

    def add_listener(self, listener: Callable[[AlertUpdate], None]) -> Callable[[], None]: ...

    def add_silence(self, site: str, silence: Silence) -> list[AlertUpdate]: ...


class AlertsApi(Protocol):
    """An engine (or its stand-in) and the alert store."""

    @property
    def engine(self) -> AlertEngineApi: ...

    @property
    def store(self) -> AlertStore: ...
