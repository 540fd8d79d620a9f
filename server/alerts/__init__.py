"""The alert engine: floor rules as a stream, alert lifecycle, notification channels.

Wiring (see docs/alerts.md): build an :class:`AlertEngine` with the halls' configs, a
:class:`SqlAlertStore`, a :class:`Dispatcher` and the forecast provider; call ``feed`` for
each accepted message, ``tick`` once a second, ``gateway_seen`` per ingest batch and
``acknowledge`` from the API.
"""

from server.alerts.dispatch import Dispatcher
from server.alerts.engine import AlertEngine
from server.alerts.influx import alert_points
from server.alerts.model import Alert, AlertKind, AlertUpdate, Delivery, UpdateEvent
from server.alerts.routing import Notifier
from server.alerts.rules import RULES, ForecastProvider
from server.alerts.service import AlertService
from server.alerts.store import AlertStore, MemoryAlertStore, SqlAlertStore

__all__ = [
    "RULES",
    "Alert",
    "AlertEngine",
    "AlertKind",
    "AlertService",
    "AlertStore",
    "AlertUpdate",
    "Delivery",
    "Dispatcher",
    "ForecastProvider",
    "MemoryAlertStore",
    "Notifier",
    "SqlAlertStore",
    "UpdateEvent",
    "alert_points",
]
