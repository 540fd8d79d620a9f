"""The alert engine: protocol messages and clock ticks in, alert lifecycle updates out.

Feed it every accepted message (:meth:`AlertEngine.feed`), tick it from a timer
(:meth:`AlertEngine.tick`), tell it about each gateway batch (:meth:`AlertEngine.gateway_seen`)
and route acknowledgements to :meth:`AlertEngine.acknowledge`. Each call returns the
lifecycle updates it caused; they are stored, handed to every listener (live pages) and
to the dispatcher (channels) before the call returns. The engine never blocks on a channel.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from lobbywatch.clock import Clock
from lobbywatch.config.notify import Silence
from lobbywatch.config.site import SiteConfig
from lobbywatch.protocol.enums import AlertState, CounterStatus, DeviceEventKind, Presence, Severity
from lobbywatch.protocol.messages import (
    CameraStatus,
    CounterState,
    DeviceEvent,
    DeviceHeartbeat,
    DeviceStatus,
    Envelope,
    ZoneState,
)
from server.alerts.model import Alert, AlertKind, AlertUpdate, UpdateEvent
from server.alerts.rules import (
    RULES,
    ArrivalWindow,
    ForecastProvider,
    Signal,
    forecast_signal,
    hall_crowding,
    hall_open,
    hold_seconds,
    surge_signal,
    zone_signals,
)
from server.alerts.store import AlertStore

log = logging.getLogger(__name__)

Listener = Callable[[AlertUpdate], None]
FORECAST_EVERY = timedelta(seconds=60)


class Notifier(Protocol):
    """Takes notifications off the engine's hands (see :class:`server.alerts.dispatch.Dispatcher`)."""

    def submit(self, site: SiteConfig, updates: Sequence[AlertUpdate]) -> None: ...


@dataclass
class _Device:
    online: bool = True
    will: bool = False
    last_seen: datetime | None = None
    offline_at: datetime | None = None
    interval_s: float = 30.0
    faults: dict[str, bool] = field(default_factory=dict)  # code -> unusable
    out_of_service: bool = False


@dataclass
class _Cond:
    last: Signal
    pending_since: datetime | None = None
    clear_since: datetime | None = None


@dataclass
class _Site:
    cfg: SiteConfig
    occupancy: dict[str, float] = field(default_factory=dict)
    counters: dict[str, CounterStatus] = field(default_factory=dict)
    devices: dict[str, _Device] = field(default_factory=dict)
    blind_cameras: set[str] = field(default_factory=set)
    gateway_last: datetime | None = None
    gateway_catching_up: bool = False
    gateway_silent: bool = False
    arrivals: ArrivalWindow = field(default_factory=ArrivalWindow)
    conds: dict[tuple[str, str], _Cond] = field(default_factory=dict)
    open: dict[tuple[str, str], Alert] = field(default_factory=dict)
    resolved: dict[tuple[str, str], Alert] = field(default_factory=dict)
    silences: list[Silence] = field(default_factory=list)
    forecast_at: datetime | None = None


@dataclass
class EngineStats:
    """Counters for /metrics: messages seen, ignored and rejected; alerts fired."""

    messages: int = 0
    unknown_site: int = 0
    errors: int = 0
    fired: int = 0
    suppressed: int = 0


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
    ) -> None:
        self._clock = clock
        self._store = store
        self._notifier = notifier
        self._forecast = forecast
        self._listeners: list[Listener] = list(listeners)
        self._lock = threading.RLock()
        self._sites: dict[str, _Site] = {}
        self._now = clock.now()
        self._started = self._now
        self.stats = EngineStats()
        for cfg in sites:
            self.set_site(cfg)

    # ------------------------------------------------------------------ configuration

    def set_site(self, cfg: SiteConfig) -> None:
        """Add a hall, or replace its configuration (its live state and alerts are kept)."""
        with self._lock:
            site = self._sites.get(cfg.site)
            if site is None:
                site = _Site(cfg)
                self._sites[cfg.site] = site
                if self._store is not None:
                    for alert in self._store.open_alerts(cfg.site):
                        site.open[(alert.kind, alert.subject)] = alert
            site.cfg = cfg

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every update (server-sent events, InfluxDB points, ...).

        Returns a function that removes it again.
        """
        with self._lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return remove

    def add_silence(self, site: str, silence: Silence) -> list[AlertUpdate]:
        """Silence matching alerts (a maintenance window) from now on, besides the config's."""
        with self._lock:
            self._site(site).silences.append(silence)
            return self.tick()

    def open_alerts(self, site: str | None = None) -> list[Alert]:
        with self._lock:
            sites = [self._site(site)] if site is not None else list(self._sites.values())
            return sorted((a for s in sites for a in s.open.values()), key=lambda a: a.started_at)

    def get(self, alert_id: str) -> Alert | None:
        with self._lock:
            for s in self._sites.values():
                for a in s.open.values():
                    if a.id == alert_id:
                        return a
        return self._store.get(alert_id) if self._store is not None else None

    def _site(self, site: str) -> _Site:
        try:
            return self._sites[site]
        except KeyError:
            raise KeyError(f"unknown site {site!r}") from None

    def _advance(self, at: datetime | None, clock_now: datetime | None = None) -> datetime:
        now = self._clock.now() if clock_now is None else clock_now
        t = now if at is None else min(at, now)
        self._now = max(self._now, t)
        return self._now

    # ------------------------------------------------------------------ inputs

    def feed(self, message: Envelope) -> list[AlertUpdate]:
        """Evaluate the rules a message touches. Never raises on a message: counts and logs."""
        with self._lock:
            return self._feed(message, self._clock.now())

    def feed_batch(self, messages: Sequence[Envelope]) -> list[AlertUpdate]:
        """:meth:`feed` for each message of an ingest batch, under one lock and clock reading."""
        with self._lock:
            clock_now = self._clock.now()
            out: list[AlertUpdate] = []
            for message in messages:
                out += self._feed(message, clock_now)
            return out

    def _feed(self, message: Envelope, clock_now: datetime) -> list[AlertUpdate]:
        self.stats.messages += 1
        site = self._sites.get(message.site)
        if site is None:
            self.stats.unknown_site += 1
            return []
        now = self._advance(message.ts, clock_now)
        out: list[AlertUpdate] = []
        try:
            for signal in self._signals(site, message, now):
                self._apply(site, signal, now, out)
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
            was_blind = s.gateway_silent or s.gateway_catching_up
            s.gateway_last = now
            s.gateway_catching_up = (
                backlog > 0 and oldest_age_s > s.cfg.notifications.policy.gateway_silence_s
            )
            out: list[AlertUpdate] = []
            if was_blind and not s.gateway_catching_up:
                # heartbeats did not arrive while the hall was cut off: restart their clocks
                for dev in s.devices.values():
                    if dev.last_seen is not None:
                        dev.last_seen = now
            self._gateway_signal(s, now, out)
            self._emit(s, out)
            return out

    def tick(self, now: datetime | None = None) -> list[AlertUpdate]:
        """Timers: hold times, heartbeat expiry, gateway silence, forecast, surge decay, escalation."""
        with self._lock:
            t = self._advance(now)
            all_out: list[AlertUpdate] = []
            for site in self._sites.values():
                out: list[AlertUpdate] = []
                try:
                    self._tick_site(site, t, out)
                except Exception:
                    self.stats.errors += 1
                    log.exception("alert timers failed for %s", site.cfg.site)
                self._emit(site, out)
                all_out += out
            return all_out

    def acknowledge(self, alert_id: str, by: str, comment: str | None = None) -> Alert:
        """Acknowledge an open alert (stops its escalation). Raises KeyError if not open."""
        with self._lock:
            now = self._advance(None)
            for site in self._sites.values():
                for key, alert in site.open.items():
                    if alert.id != alert_id:
                        continue
                    if alert.state == AlertState.ACKNOWLEDGED:
                        return alert
                    acked = alert.evolve(
                        state=AlertState.ACKNOWLEDGED,
                        acked_by=by,
                        acked_at=now,
                        ack_comment=comment,
                        updated_at=now,
                    )
                    site.open[key] = acked
                    out = [self._update(site, acked, UpdateEvent.ACKNOWLEDGED, now)]
                    self._emit(site, out)
                    return acked
        raise KeyError(f"no open alert {alert_id!r}")

    # ------------------------------------------------------------------ rules

    def _signals(self, site: _Site, message: Envelope, now: datetime) -> list[Signal]:
        cfg = site.cfg
        signals: list[Signal] = []
        match message:
            case ZoneState():
                site.occupancy[message.zone] = message.occupancy
                signals += zone_signals(cfg, message)
                hall = hall_crowding(cfg, site.occupancy)
                if hall is not None:
                    signals.append(hall)
                if message.kind.value == "entrance":
                    site.arrivals.add(message)
                    signals.append(surge_signal(cfg, site.arrivals.count(now), site.counters))
            case CameraStatus():
                blind = message.state == Presence.OFFLINE or not message.stream_ok
                if blind:
                    site.blind_cameras.add(message.source)
                else:
                    site.blind_cameras.discard(message.source)
                why = message.reason or ("stream lost" if message.state == Presence.ONLINE else "offline")
                signals.append(
                    Signal(
                        AlertKind.SENSING_BLIND,
                        f"camera:{message.source}",
                        blind,
                        {"what": message.source, "why": why},
                    )
                )
            case CounterState():
                site.counters[message.counter] = message.state
            case DeviceStatus():
                dev = site.devices.setdefault(message.source, _Device())
                dev.last_seen = now
                if message.heartbeat_s is not None:
                    dev.interval_s = message.heartbeat_s
                dev.out_of_service = message.out_of_service
                dev.online = message.state == Presence.ONLINE
                dev.will = message.will
                dev.offline_at = None if dev.online else message.ts
                signals.append(self._offline_signal(site, message.source, dev, now))
                known = set(dev.faults)
                for code in known - set(message.faults):
                    del dev.faults[code]
                    signals.append(self._fault_signal(site, message.source, code, False, None, None))
                for code in set(message.faults) - known:
                    dev.faults[code] = True
                    signals.append(self._fault_signal(site, message.source, code, True, None, None))
                signals += self._capacity_signals(site)
            case DeviceHeartbeat():
                dev = site.devices.setdefault(message.source, _Device())
                dev.last_seen = now
                dev.interval_s = message.interval_s
                if not dev.online:
                    dev.online, dev.will, dev.offline_at = True, False, None
                signals.append(self._offline_signal(site, message.source, dev, now))
            case DeviceEvent():
                dev = site.devices.setdefault(message.source, _Device())
                dev.last_seen = now
                if message.event == DeviceEventKind.FAULT_RAISED and message.code is not None:
                    dev.faults[message.code] = message.unusable is not False
                    signals.append(
                        self._fault_signal(
                            site, message.source, message.code, True, message.detail, message.unusable
                        )
                    )
                elif message.event == DeviceEventKind.FAULT_CLEARED and message.code is not None:
                    dev.faults.pop(message.code, None)
                    signals.append(self._fault_signal(site, message.source, message.code, False, None, None))
                elif message.event == DeviceEventKind.OUT_OF_SERVICE_ON:
                    dev.out_of_service = True
                elif message.event == DeviceEventKind.OUT_OF_SERVICE_OFF:
                    dev.out_of_service = False
                signals += self._capacity_signals(site)
            case _:
                pass
        return signals

    def _device_meta(self, site: _Site, device: str) -> tuple[str, str, str | None]:
        try:
            d = site.cfg.device(device)
        except KeyError:
            return "unknown", "?", None
        return d.vendor, d.model, d.zone

    def _fault_signal(
        self, site: _Site, device: str, code: str, on: bool, detail: str | None, unusable: bool | None
    ) -> Signal:
        vendor, model, zone = self._device_meta(site, device)
        severity = Severity.CRITICAL if unusable else Severity.WARNING
        params = {
            "device": device,
            "model": model,
            "vendor": vendor,
            "code": code,
            "detail": f" ({detail})" if detail else "",
            "action": "out_of_service_notice",
        }
        return Signal(
            AlertKind.DEVICE_FAULT,
            f"device:{device}:{code}",
            on,
            params,
            severity=severity,
            zone=zone,
            device=device,
            vendor=vendor,
        )

    def _offline_signal(self, site: _Site, device: str, dev: _Device, now: datetime) -> Signal:
        vendor, _model, zone = self._device_meta(site, device)
        on: bool | None = False
        since: datetime | None = None
        why = {"en": "", "zh-CN": ""}
        if not dev.online:
            on, since = True, dev.offline_at or now
            why = (
                {"en": "last will", "zh-CN": "遗嘱消息"}
                if dev.will
                else {"en": "shut down", "zh-CN": "已关机"}
            )
        elif dev.last_seen is not None:
            due = dev.last_seen + timedelta(seconds=dev.interval_s)
            if now > due:
                on, since = True, due
                why = {"en": "heartbeat missed", "zh-CN": "心跳超时"}
        if on and not hall_open(site.cfg, now):
            on = None  # a closed hall's kiosks may sleep; still offline at opening time: alert then
        return Signal(
            AlertKind.DEVICE_OFFLINE,
            f"device:{device}",
            on,
            {"device": device, "vendor": vendor, "why": why},
            since=since,
            zone=zone,
            device=device,
            vendor=vendor,
        )

    def _capacity_signals(self, site: _Site) -> list[Signal]:
        kiosks = [d for d in site.cfg.devices if d.kind.is_self_service]
        if not kiosks or not any(d.id in site.devices for d in kiosks):
            return []
        working: list[str] = []
        down: list[str] = []
        grace = site.cfg.thresholds.device_offline_grace_s
        for d in kiosks:
            dev = site.devices.get(d.id)
            if dev is None:
                # not heard of since the engine started: presumed working until it had time to announce
                ok = (self._now - self._started).total_seconds() < d.heartbeat_s + grace
            else:
                ok = dev.online and not dev.out_of_service and not any(dev.faults.values())
            (working if ok else down).append(d.id)
        minimum = site.cfg.thresholds.min_working_kiosks
        params = {
            "working": len(working),
            "total": len(kiosks),
            "minimum": minimum,
            "down": {"en": ", ".join(down) or "none", "zh-CN": "、".join(down) or "无"},
            "down_ids": down,
        }
        return [Signal(AlertKind.KIOSK_CAPACITY, "hall", len(working) < minimum, params)]

    def _gateway_signal(self, site: _Site, now: datetime, out: list[AlertUpdate]) -> None:
        if site.gateway_last is None:
            return
        silence = site.cfg.notifications.policy.gateway_silence_s
        silent = (now - site.gateway_last).total_seconds() > silence
        site.gateway_silent = silent
        why = {"en": f"no data for over {silence:g} s", "zh-CN": f"超过 {silence:g} 秒无数据"}
        what = {"en": f"gateway of {site.cfg.site}", "zh-CN": f"{site.cfg.name.zh_cn}网关"}
        self._apply(
            site, Signal(AlertKind.SENSING_BLIND, "gateway", silent, {"what": what, "why": why}), now, out
        )

    def _tick_site(self, site: _Site, now: datetime, out: list[AlertUpdate]) -> None:
        self._gateway_signal(site, now, out)
        for device, dev in site.devices.items():
            self._apply(site, self._offline_signal(site, device, dev, now), now, out)
        for signal in self._capacity_signals(site):
            self._apply(site, signal, now, out)
        if site.arrivals.last_totals:
            self._apply(site, surge_signal(site.cfg, site.arrivals.count(now), site.counters), now, out)
        if self._forecast is not None and (
            site.forecast_at is None or now - site.forecast_at >= FORECAST_EVERY
        ):
            site.forecast_at = now
            try:
                hours = self._forecast.forecast(site.cfg.site)
            except Exception:
                log.exception("forecast provider failed for %s", site.cfg.site)
                hours = []
            self._apply(site, forecast_signal(site.cfg, hours, now, site.counters), now, out)
        for cond in list(site.conds.values()):
            self._apply(site, cond.last, now, out)
        self._escalate(site, now, out)
        self._resilence(site, now, out)

    # ------------------------------------------------------------------ lifecycle

    def _held_back(self, site: _Site, signal: Signal) -> bool:
        if signal.kind == AlertKind.SENSING_BLIND:
            return False
        if site.gateway_silent:
            return True  # nothing arrives from the hall: its last readings are stale
        if signal.camera is not None and signal.camera in site.blind_cameras:
            return True
        # inhibition: a hall whose gateway is catching up has not lost its devices
        return signal.kind == AlertKind.DEVICE_OFFLINE and site.gateway_catching_up

    def _apply(self, site: _Site, signal: Signal, now: datetime, out: list[AlertUpdate]) -> None:
        key = (str(signal.kind), signal.subject)
        cond = site.conds.get(key)
        if cond is None:
            if signal.on is not True and key not in site.open:
                return  # nothing pending, nothing open: no state to keep
            cond = site.conds[key] = _Cond(signal)
        cond.last = signal
        if self._held_back(site, signal):
            return
        alert = site.open.get(key)
        spec = RULES[signal.kind]
        policy = site.cfg.notifications.policy
        if signal.on is True:
            cond.clear_since = None
            if cond.pending_since is None:
                cond.pending_since = signal.since or now
            if alert is not None:
                held_s = (now - cond.pending_since).total_seconds()
                site.open[key] = alert.evolve(params={**alert.params, **signal.params, "held_s": held_s})
                return
            hold = hold_seconds(spec, site.cfg.thresholds, dict(policy.hold_s))
            held = (now - cond.pending_since).total_seconds()
            if held >= hold:
                self._fire(site, signal, now, held, out)
        elif signal.on is False:
            cond.pending_since = None
            if alert is None:
                del site.conds[key]
                return
            if cond.clear_since is None:
                cond.clear_since = now
            clear_hold = policy.clear_hold_s.get(signal.kind)
            if clear_hold is None:
                clear_hold = (
                    spec.clear_hold_s if spec.clear_hold_s is not None else policy.default_clear_hold_s
                )
            if (now - cond.clear_since).total_seconds() >= clear_hold:
                self._resolve(site, key, alert, now, out)
                del site.conds[key]
        else:
            cond.clear_since = None
            if alert is None:
                cond.pending_since = None

    def _fire(self, site: _Site, signal: Signal, now: datetime, held: float, out: list[AlertUpdate]) -> None:
        key = (str(signal.kind), signal.subject)
        spec = RULES[signal.kind]
        params = dict(signal.params)
        params.setdefault("held_s", held)
        audience = spec.audience
        previous = site.resolved.pop(key, None)
        window = site.cfg.notifications.policy.flap_window_s
        if (
            previous is not None
            and previous.resolved_at is not None
            and ((now - previous.resolved_at).total_seconds() <= window)
        ):
            alert = previous.evolve(
                state=AlertState.FIRING,
                params=params,
                updated_at=now,
                resolved_at=None,
                acked_by=None,
                acked_at=None,
                ack_comment=None,
                escalation_level=0,
                reopen_count=previous.reopen_count + 1,
            )
            event = UpdateEvent.REOPENED
        else:
            alert = Alert(
                id=Alert.new_id(),
                site=site.cfg.site,
                kind=str(signal.kind),
                subject=signal.subject,
                severity=signal.severity or spec.severity,
                state=AlertState.FIRING,
                audience=audience,
                started_at=now,
                updated_at=now,
                params=params,
                zone=signal.zone,
                device=signal.device,
                vendor=signal.vendor,
            )
            event = UpdateEvent.FIRED
        alert = alert.evolve(silenced=self._silenced(site, alert, now))
        site.open[key] = alert
        self.stats.fired += 1
        update = self._update(site, alert, event, now)
        if event == UpdateEvent.REOPENED and alert.reopen_count > site.cfg.notifications.policy.flap_max:
            update = AlertUpdate(alert, event, now, update.channels, update.audience, notify=False)
        if not update.notify:
            self.stats.suppressed += 1
        out.append(update)

    def _resolve(
        self, site: _Site, key: tuple[str, str], alert: Alert, now: datetime, out: list[AlertUpdate]
    ) -> None:
        resolved = alert.evolve(state=AlertState.RESOLVED, resolved_at=now, updated_at=now)
        del site.open[key]
        site.resolved[key] = resolved
        out.append(self._update(site, resolved, UpdateEvent.RESOLVED, now))

    def _escalate(self, site: _Site, now: datetime, out: list[AlertUpdate]) -> None:
        steps = sorted(site.cfg.notifications.escalation, key=lambda s: s.after_min)
        for key, alert in list(site.open.items()):
            if alert.state != AlertState.FIRING or alert.silenced:
                continue
            level = alert.escalation_level
            while level < len(steps) and now - alert.started_at >= timedelta(minutes=steps[level].after_min):
                step = steps[level]
                level += 1
                alert = alert.evolve(escalation_level=level, updated_at=now)
                site.open[key] = alert
                out.append(
                    AlertUpdate(alert, UpdateEvent.ESCALATED, now, tuple(step.channels), (step.audience,))
                )

    def _resilence(self, site: _Site, now: datetime, out: list[AlertUpdate]) -> None:
        """A silence that ended lets its still-firing alerts through (once)."""
        for key, alert in list(site.open.items()):
            silenced = self._silenced(site, alert, now)
            if silenced != alert.silenced:
                alert = alert.evolve(silenced=silenced, updated_at=now)
                site.open[key] = alert
                if not silenced:
                    out.append(self._update(site, alert, UpdateEvent.FIRED, now))

    def _silenced(self, site: _Site, alert: Alert, now: datetime) -> bool:
        for s in [*site.cfg.notifications.silences, *site.silences]:
            if not s.starts <= now < s.ends:
                continue
            if s.kinds and alert.kind not in s.kinds:
                continue
            if s.zones and alert.zone not in s.zones:
                continue
            if s.devices and alert.device not in s.devices:
                continue
            if s.vendor is not None and alert.vendor != s.vendor:
                continue
            return True
        return False

    def _update(self, site: _Site, alert: Alert, event: UpdateEvent, now: datetime) -> AlertUpdate:
        """An update routed by the site's routes (plus the escalation channels already reached)."""
        notify = site.cfg.notifications
        channels: list[str] = []
        for route in notify.routes:
            if route.kinds and alert.kind not in route.kinds:
                continue
            if route.audience and not set(route.audience) & set(alert.audience):
                continue
            if route.vendors and alert.vendor not in route.vendors:
                continue
            channels += [c for c in route.channels if c not in channels]
        if event in (UpdateEvent.ACKNOWLEDGED, UpdateEvent.RESOLVED):
            steps = sorted(notify.escalation, key=lambda s: s.after_min)[: alert.escalation_level]
            for step in steps:
                channels += [c for c in step.channels if c not in channels]
        return AlertUpdate(alert, event, now, tuple(channels), alert.audience, notify=not alert.silenced)

    def _emit(self, site: _Site, updates: list[AlertUpdate]) -> None:
        if not updates:
            return
        if self._store is not None:
            for u in updates:
                try:
                    self._store.save(u.alert)
                except Exception:
                    self.stats.errors += 1
                    log.exception("could not store alert %s", u.alert.id)
        for listener in self._listeners:
            for u in updates:
                try:
                    listener(u)
                except Exception:
                    log.exception("alert listener failed")
        if self._notifier is not None:
            wanted = [u for u in updates if u.notify and u.channels]
            if wanted:
                self._notifier.submit(site.cfg, wanted)
