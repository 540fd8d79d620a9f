"""Routing: which channels an alert's update goes to, and the log of updates held back.

Routes (``notifications.routes``) match an alert by kind, audience and vendor; an
acknowledgement, extension or resolution also goes to every escalation channel the alert reached.
An update held back (a silence, flapping, late data) is logged as not sent, once per channel it
would have gone to (docs/alerts.md, "Channels"), but for a resolution to the hall displays,
which keep a copy of the open alerts: that one is always sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from lobbywatch.config.notify import NotificationsConfig
from lobbywatch.config.site import SiteConfig
from server.alerts.escalation import ladder
from server.alerts.model import Alert, AlertUpdate, Delivery, MuteReason, UpdateEvent

MIRROR_TYPE = "mqtt"
"""The channel type of the hall displays, which mirror the open alerts."""


class Notifier(Protocol):
    """Takes the updates to send off the engine's hands (:class:`server.alerts.dispatch.Dispatcher`)."""

    def submit(self, site: SiteConfig, updates: Sequence[AlertUpdate]) -> None: ...


def channels_for(notify: NotificationsConfig, alert: Alert, event: UpdateEvent) -> tuple[str, ...]:
    """The channels of every matching route, in route order, each once."""
    channels: list[str] = []
    for route in notify.routes:
        if route.kinds and alert.kind not in route.kinds:
            continue
        if route.audience and not set(route.audience) & set(alert.audience):
            continue
        if route.vendors and alert.vendor not in route.vendors:
            continue
        channels += [c for c in route.channels if c not in channels]
    if event in (UpdateEvent.EXTENDED, UpdateEvent.ACKNOWLEDGED, UpdateEvent.RESOLVED):
        for step in ladder(notify)[: alert.escalation_level]:
            channels += [c for c in step.channels if c not in channels]
    return tuple(channels)


def routed(
    notify: NotificationsConfig,
    alert: Alert,
    event: UpdateEvent,
    now: datetime,
    held_back: MuteReason | None = None,
) -> AlertUpdate:
    """The update of ``alert`` for ``event``, to its routes' channels; the update of a
    silenced alert, or of one raised from late data, is held back by that reason (or by
    ``held_back``, e.g. flapping). A resolution held back still goes to the hall displays
    (``mqtt`` channels): they keep the open alerts on screen and on the hall broker, and one
    silenced after it was shown would otherwise stay there (a resolution of an alert a display
    never had clears nothing)."""
    if held_back is None and (alert.silenced or alert.late):
        held_back = alert.muted
    channels = channels_for(notify, alert, event)
    mirrors: tuple[str, ...] = ()
    if held_back is not None and event == UpdateEvent.RESOLVED:
        displays = {c.name for c in notify.channels if c.type == MIRROR_TYPE}
        mirrors = tuple(c for c in channels if c in displays)
    return AlertUpdate(alert, event, now, channels, alert.audience, held_back, mirrors)


def held_deliveries(update: AlertUpdate) -> list[Delivery]:
    """Delivery log entries of an update held back: not sent, and why, per channel."""
    if update.held_back is None:
        return []
    why = str(update.held_back)
    return [
        Delivery(update.alert.id, c, str(update.event), 0, False, update.at, 0.0, skipped=why)
        for c in update.channels
        if c not in update.mirrors
    ]
