"""Escalation: an alert left firing and unacknowledged reaches the next audience in turn.

The hall's ``notifications.escalation`` steps (``after_min``, ``audience``, ``channels``)
apply in order of ``after_min``, counted from when the alert fired (or, for one raised from
late data, from when it was sent: ``sent_at``). Acknowledgement stops them; a silenced
alert, or one not sent yet, does not escalate (docs/alerts.md, "Lifecycle").
"""

from __future__ import annotations

from datetime import datetime, timedelta

from lobbywatch.config.notify import EscalationStep, NotificationsConfig
from lobbywatch.protocol.enums import AlertState
from server.alerts.lifecycle import Lifecycle
from server.alerts.model import Alert, AlertUpdate, UpdateEvent


def ladder(notify: NotificationsConfig) -> list[EscalationStep]:
    """The escalation steps in the order they are reached."""
    return sorted(notify.escalation, key=lambda s: s.after_min)


def _counted_from(alert: Alert) -> datetime:
    """When the alert was first sent: when it fired, or when a catch-up sent it late."""
    sent_at = alert.params.get("sent_at")
    return datetime.fromisoformat(sent_at) if isinstance(sent_at, str) else alert.started_at


def escalate(lifecycle: Lifecycle, notify: NotificationsConfig, now: datetime) -> list[AlertUpdate]:
    """Take every step each firing, unacknowledged, unsilenced alert has reached by ``now``;
    each step is one update to that step's audience and channels."""
    steps = ladder(notify)
    out: list[AlertUpdate] = []
    for alert in list(lifecycle.open.values()):
        if alert.state != AlertState.FIRING or alert.silenced or alert.late:
            continue
        level = alert.escalation_level
        start = _counted_from(alert)
        while level < len(steps) and now - start >= timedelta(minutes=steps[level].after_min):
            step = steps[level]
            level += 1
            alert = alert.evolve(escalation_level=level, updated_at=now)
            lifecycle.replace(alert)
            out.append(AlertUpdate(alert, UpdateEvent.ESCALATED, now, tuple(step.channels), (step.audience,)))
    return out
