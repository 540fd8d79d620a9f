"""The alert engine: protocol messages and clock ticks in, alert lifecycle updates out.

It only orchestrates the stages, per hall (docs/alerts.md, "Stages"): the rules (``rules/``)
turn a message or a tick into signals; muting (``muting.py``) holds stale signals back; the
lifecycle (``lifecycle.py``) fires, reopens and resolves; silences and late data (``late.py``)
hold alerts back; escalation (``escalation.py``) and routing (``routing.py``) pick the channels.
Each call returns its updates, already stored (``recording.py``), told to listeners and handed
to the notifier.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from lobbywatch.clock import Clock
from lobbywatch.config.notify import Silence
from lobbywatch.config.site import SiteConfig
from lobbywatch.protocol.enums import AlertState
from lobbywatch.protocol.ingest import Backlog
from lobbywatch.protocol.messages import Envelope
from server.alerts.escalation import escalate
from server.alerts.late import LATE
from server.alerts.lifecycle import Step
from server.alerts.model import Alert, AlertUpdate, EngineStats, UpdateEvent
from server.alerts.muting import flapping
from server.alerts.recording import record
from server.alerts.routing import Notifier, routed
from server.alerts.rules import FaultProvider, ForecastProvider, Signal, gateway_signal
from server.alerts.site import SiteState
from server.alerts.store import AlertStore
from server.hall_state import HallState
from server.subscribers import Subscribers

log = logging.getLogger(__name__)

Listener = Callable[[AlertUpdate], None]


class AlertEngine:
    """Evaluates the floor rules of every configured hall as a stream."""

    def __init__(
        self,
        sites: Iterable[SiteConfig],
        *,
        clock: Clock,
        store: AlertStore | None = None,
        notifier: Notifier | None = None,
        forecast: ForecastProvider | None = None,
        listeners: Sequence[Listener] = (),
        hall: HallState | None = None,
        faults: FaultProvider | None = None,
    ) -> None:
        """``hall``: the server's hall state (else the engine's own); ``faults``: open faults (SLAs)."""
        self._clock, self._store, self._notifier = clock, store, notifier
        self._forecast, self._faults = forecast, faults
        self._listeners = Subscribers[Listener]()
        for listener in listeners:
            self._listeners.add(listener)
        self._lock = threading.RLock()
        self._sites: dict[str, SiteState] = {}
        self._configs: dict[str, SiteConfig] = {}
        self.hall, self.feeds_hall = hall or HallState(clock, self._configs), hall is None
        self._now, self.stats = clock.now(), EngineStats()
        for cfg in sites:
            self.set_site(cfg)

    def set_site(self, cfg: SiteConfig) -> None:
        """Add a hall, or replace its configuration (its live state and alerts are kept)."""
        with self._lock:
            site = self._sites.get(cfg.site)
            self._configs[cfg.site] = cfg
            if site is None:
                site = self._sites[cfg.site] = SiteState(cfg, self.hall)
                site.restore(self._store, self._now)  # what a restart must not lose
            site.cfg = cfg

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every update (SSE, points); it runs under the lock: only enqueue."""
        return self._listeners.add(listener)

    def add_silence(self, site: str, silence: Silence) -> list[AlertUpdate]:
        """Silence matching alerts from now on, besides the config's; kept by the store."""
        with self._lock:
            self._site(site).muting.added.append(silence)
            if self._store is not None:
                self._store.add_silence(site, silence)
            return self.tick()

    def open_alerts(self, site: str | None = None) -> list[Alert]:
        with self._lock:
            sites = [self._site(site)] if site is not None else list(self._sites.values())
            return sorted((a for s in sites for a in s.lifecycle.open.values()), key=lambda a: a.started_at)

    def get(self, alert_id: str) -> Alert | None:
        with self._lock:
            for s in self._sites.values():
                if (alert := s.lifecycle.find(alert_id)) is not None:
                    return alert
        return self._store.get(alert_id) if self._store is not None else None

    def _site(self, site: str) -> SiteState:
        if site not in self._sites:
            raise KeyError(f"unknown site {site!r}")
        return self._sites[site]

    def _advance(self, at: datetime | None, clock_now: datetime | None = None) -> datetime:
        now = self._clock.now() if clock_now is None else clock_now
        self._now = max(self._now, now if at is None else min(at, now))
        return self._now

    def feed(self, message: Envelope) -> list[AlertUpdate]:
        """Evaluate the rules a message touches. Never raises on a message: counts and logs."""
        with self._lock:
            return self._feed(message, self._clock.now())

    def feed_batch(self, messages: Sequence[Envelope]) -> list[AlertUpdate]:
        """:meth:`feed` for each message of an ingest batch, under one lock and clock reading."""
        with self._lock:
            clock_now = self._clock.now()
            return [u for message in messages for u in self._feed(message, clock_now)]

    def _feed(self, message: Envelope, clock_now: datetime) -> list[AlertUpdate]:
        self.stats.messages += 1
        site = self._sites.get(message.site)
        if site is None:
            self.stats.unknown_site += 1
            return []
        late_at = site.catch_up.at(site.cfg, message.ts, clock_now)
        now = late_at or self._advance(message.ts, clock_now)
        out: list[AlertUpdate] = []
        try:
            if self.feeds_hall:
                self.hall.apply(message)
            for signal in site.signals(message, now):
                self._apply(site, signal, now, out, late_at is not None)
        except Exception:  # a bug in one rule must not stop the stream
            self.stats.errors += 1
            log.exception("alert rules failed on %s from %s/%s", message.type, message.site, message.source)
        self._emit(site, out)
        return out

    def gateway_seen(
        self, site: str, *, gateway: str | None = None, backlog: int = 0, oldest_age_s: float = 0.0
    ) -> list[AlertUpdate]:
        """A gateway delivered a batch: the hall is not silent. A stale backlog holds devices back."""
        with self._lock:
            s = self._sites.get(site)
            if s is None:
                self.stats.unknown_site += 1
                return []
            now = self._advance(None)
            if self.feeds_hall:
                outbox = Backlog(count=backlog, bytes=0, oldest_age_s=oldest_age_s)
                self.hall.gateway_batch(site, gateway or "gateway", outbox, now)
            out: list[AlertUpdate] = []
            self._apply(s, gateway_signal(s.cfg, s.sensing, now), now, out, False)
            self._emit(s, out)
            return out

    def apply_by_hand(self, messages: Sequence[Envelope]) -> None:
        """A state set by hand on the server (a counter page's) onto the engine's own hall state,
        if it keeps one (else the server applied it); the rules read it when they next run."""
        with self._lock:
            for message in messages if self.feeds_hall else ():
                self.hall.apply(message)

    def tick(self, now: datetime | None = None) -> list[AlertUpdate]:
        """Timers (at the hall's data time while it catches up): holds, heartbeats, gateway silence,
        forecast, surge decay, vendor targets, escalation, muting, the end of a catch-up."""
        with self._lock:
            t_now = self._advance(now)
            all_out: list[AlertUpdate] = []
            for site in self._sites.values():
                out, changed = list[AlertUpdate](), list[Alert]()
                try:
                    t, late = site.catch_up.timers_at(t_now)
                    for signal in site.timed_signals(t, self._forecast, self._faults):
                        self._apply(site, signal, t, out, late)
                    for signal in site.lifecycle.pending():  # after: those just cleared are gone
                        self._apply(site, signal, t, out, late)
                    out += escalate(site.lifecycle, site.cfg.notifications, t)
                    let_through, changed = site.muting.refresh(site.cfg, site.lifecycle, t)
                    sent_late, changed_late = site.catch_up.release(site.cfg, site.lifecycle, site.muting, t)
                    out += [routed(site.cfg.notifications, a, UpdateEvent.FIRED, t) for a in let_through]
                    out, changed = out + sent_late, changed + changed_late
                except Exception:
                    self.stats.errors += 1
                    log.exception("alert timers failed for %s", site.cfg.site)
                self._emit(site, out, changed)
                all_out += out
            return all_out

    def acknowledge(self, alert_id: str, by: str, comment: str | None = None) -> Alert:
        """Acknowledge an open alert (stops its escalation). Raises KeyError if not open."""
        with self._lock:
            now = self._advance(None)
            for site in self._sites.values():
                alert = site.lifecycle.find(alert_id)
                if alert is None:
                    continue
                if alert.state == AlertState.ACKNOWLEDGED:
                    return alert
                step = site.lifecycle.acknowledge(alert, by, comment, now)
                self._emit(site, [self._update(site, step, now)])
                return step.alert
        raise KeyError(f"no open alert {alert_id!r}")

    def _apply(
        self, site: SiteState, signal: Signal | None, now: datetime, out: list[AlertUpdate], late: bool
    ) -> None:
        """Inhibit, then the lifecycle; a lifecycle step becomes a routed update."""
        if signal is not None:
            step = site.lifecycle.apply(site.cfg, signal, now, site.muting.inhibited)
            if step is not None:
                out.append(self._update(site, step, now, late))

    def _update(self, site: SiteState, step: Step, now: datetime, late: bool = False) -> AlertUpdate:
        """Late data or silence (a firing alert), then routing: the update, or why it is held back."""
        alert = step.alert
        fired = step.event in (UpdateEvent.FIRED, UpdateEvent.REOPENED)
        if fired:
            alert = alert.evolve(muted=LATE if late else site.muting.silenced(site.cfg, alert, now))
            site.lifecycle.replace(alert)
            self.stats.fired += 1
        held_back = flapping(alert) if step.flapping else None
        update = routed(site.cfg.notifications, alert, step.event, now, held_back)
        if fired and not update.notify:
            self.stats.suppressed += 1
        return update

    def _emit(self, site: SiteState, updates: list[AlertUpdate], changed: Sequence[Alert] = ()) -> None:
        """Notify: store (dropping what another engine opened first), tell the listeners, hand
        the rest on. ``updates`` is left holding the updates told."""
        if not updates and not changed:
            return  # most messages change nothing: no per-message work beyond this
        if self._store is not None:
            updates[:] = record(self._store, site.lifecycle, updates, changed, self.stats)
        for listener in self._listeners.snapshot():
            for u in updates:
                try:
                    listener(u)
                except Exception:
                    log.exception("alert listener failed")
        wanted = [u for u in updates if u.notify and u.channels]
        if self._notifier is not None and wanted:
            self._notifier.submit(site.cfg, wanted)
