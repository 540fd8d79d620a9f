"""Storing a hall's alert updates before anyone hears of them (the engine's first output step).

The store is the record of what was raised, and its open key (one open alert per hall, kind
and subject: :data:`server.alerts.store.OPEN_KEY`) the guard when two engines both believe they
hold a hall: the second to open an alert takes the stored one into its lifecycle, and its own
update is told to nobody and sent nowhere (docs/distributed.md, "Workers").
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from server.alerts.lifecycle import Lifecycle
from server.alerts.model import Alert, AlertUpdate, EngineStats
from server.alerts.routing import held_deliveries
from server.alerts.store import AlertStore

log = logging.getLogger(__name__)


def record(
    store: AlertStore,
    lifecycle: Lifecycle,
    updates: Sequence[AlertUpdate],
    changed: Sequence[Alert],
    stats: EngineStats,
) -> list[AlertUpdate]:
    """Store the alerts of ``updates`` and ``changed``, and the deliveries held back; returns the
    updates to tell and send: all but those whose alert another engine had open already."""
    kept = [u for u in updates if _stored(store, lifecycle, u.alert, stats)]
    for alert in changed:
        _stored(store, lifecycle, alert, stats)
    for d in (d for u in kept for d in held_deliveries(u)):
        try:
            store.add_delivery(d)
        except Exception:
            log.exception("could not log the held-back delivery of %s", d.alert_id)
    return kept


def _stored(store: AlertStore, lifecycle: Lifecycle, alert: Alert, stats: EngineStats) -> bool:
    """Store ``alert``; False when the store kept another open alert of its key instead, which
    ``lifecycle`` takes in its place (counted in ``stats.duplicates``). A store that fails is
    counted as an error and the update goes on (as before the store could refuse)."""
    try:
        stored = store.save(alert)
    except Exception:
        stats.errors += 1
        log.exception("could not store alert %s", alert.id)
        return True
    if stored.id == alert.id:
        return True
    lifecycle.replace(stored)
    stats.duplicates += 1
    log.warning(
        "alert %s %s/%s not opened: %s is open already (duplicate_open: another engine opened it)",
        alert.site,
        alert.kind,
        alert.subject,
        stored.id,
    )
    return False
