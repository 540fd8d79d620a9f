"""The alert engine: floor rules as a stream, alert lifecycle, notification channels.

The stages (docs/alerts.md): ``rules/`` (signals), ``muting`` (inhibitions, silences and
their reasons), ``lifecycle``, ``escalation``, ``routing``, and ``engine``, which only
orchestrates them. A server runs it as an :class:`AlertService` (engine, store, channel
dispatcher, a one-second tick) that ``server.context.ServerContext`` starts: each ingest
batch goes to ``engine.gateway_seen`` and ``engine.feed_batch``; the APIs call
``engine.acknowledge`` and ``engine.add_silence``.
"""

from server.alerts.dispatch import Dispatcher
from server.alerts.engine import AlertEngine
from server.alerts.influx import alert_points
from server.alerts.model import Alert, AlertKind, AlertUpdate, Delivery, MuteReason, UpdateEvent
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
    "MuteReason",
    "Notifier",
    "SqlAlertStore",
    "UpdateEvent",
    "alert_points",
]
