"""Late data: a backlog replayed after an outage is judged on its own time and pages no one.

A message is late when its ``ts`` is more than ``policy.gateway_silence_s`` behind the
server's clock. The engine evaluates it at the hall's data time (:class:`CatchUp`: its own
``ts``, never going back), so hold times inside a backlog are judged on the messages' own
times; while the hall's gateway is catching up and its messages are late, its timers run at
that data time too. An
alert a late message fires is held back (``MuteReason`` kind ``late``): stored and shown,
logged as skipped, not sent, not escalated, and neither is its resolution. When the catch-up
ends (the gateway's backlog is fresh again), :meth:`CatchUp.release` sends every such alert still
firing once, saying since when (docs/alerts.md, "Late data").
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from lobbywatch.config.site import SiteConfig
from lobbywatch.protocol.enums import AlertState
from server.alerts.lifecycle import Lifecycle
from server.alerts.model import Alert, AlertUpdate, MuteReason, UpdateEvent
from server.alerts.muting import MuteText, Muting
from server.alerts.routing import routed
from server.alerts.rules.sensing import Sensing

LATE = MuteReason("late", MuteText.LATE_DATA, "backlog")
"""Why an alert raised from late data is not sent (yet)."""


class CatchUp:
    """One hall's data time while late data comes in, and the end of its catch-up."""

    def __init__(self, sensing: Sensing) -> None:
        self._sensing = sensing
        self.data_time: datetime | None = None
        """The newest ``ts`` of the late messages since the last fresh one; None: none."""

    def at(self, cfg: SiteConfig, ts: datetime, clock_now: datetime) -> datetime | None:
        """The time to evaluate a message stamped ``ts`` at: the data time when it is late
        (its own ``ts``, never before a late message already seen), else None (a fresh
        message: the hall's data is current again, its timers run on the server's clock)."""
        if (clock_now - ts).total_seconds() <= cfg.notifications.policy.gateway_silence_s:
            self.data_time = None
            return None
        if self.data_time is None or ts > self.data_time:
            self.data_time = ts
        return self.data_time

    def timers_at(self, now: datetime) -> tuple[datetime, bool]:
        """(when the hall's timers run, whether that is late): the data time while its
        gateway catches up on a backlog and its newest message was late, else ``now``."""
        if self.data_time is not None and self._sensing.gateway_catching_up:
            return self.data_time, True
        return now, False

    def release(
        self, cfg: SiteConfig, lifecycle: Lifecycle, muting: Muting, now: datetime
    ) -> tuple[list[AlertUpdate], list[Alert]]:
        """Once the catch-up is over (the gateway is not behind), send each alert raised from
        late data and still firing once, as fired, saying since when (unless a silence holds
        it); an acknowledged one just stops being held back. Returns (updates, alerts changed
        without an update)."""
        if self._sensing.gateway_catching_up:
            return [], []
        self.data_time = None
        out: list[AlertUpdate] = []
        changed: list[Alert] = []
        for alert in [a for a in lifecycle.open.values() if a.late]:
            params = {
                **alert.params,
                "since": since_text(cfg, alert.started_at, now),
                "sent_at": now.isoformat(),
            }
            sent = alert.evolve(muted=muting.silenced(cfg, alert, now), params=params, updated_at=now)
            lifecycle.replace(sent)
            if sent.state == AlertState.FIRING:
                out.append(routed(cfg.notifications, sent, UpdateEvent.FIRED, now))
            else:
                changed.append(sent)
        return out, changed


def since_text(cfg: SiteConfig, started_at: datetime, now: datetime) -> str:
    """When the alert started, in the hall's time zone: "09:12", or "2026-11-23 09:12"
    when that was another day than ``now``."""
    tz = ZoneInfo(cfg.timezone)
    start, today = started_at.astimezone(tz), now.astimezone(tz)
    return start.strftime("%H:%M" if start.date() == today.date() else "%Y-%m-%d %H:%M")
