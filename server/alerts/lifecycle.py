"""The lifecycle of one hall's alerts: signals in, lifecycle steps out.

A condition must hold for its raise hold before its alert fires, and stay clear for its
clear hold before the alert resolves; a signal in the hysteresis band (``on=None``) keeps
what is. An alert that fires again within ``policy.flap_window_s`` of resolving reopens,
and after ``policy.flap_max`` reopenings its steps are marked flapping (not sent). Acknowledge
is a step too, and so is an open alert's span growing (``RuleSpec.extends``: a peak running
on). The engine adds routing and muting (docs/alerts.md, "Lifecycle").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lobbywatch.config.site import SiteConfig
from lobbywatch.protocol.enums import AlertState
from server.alerts.model import Alert, MuteReason, UpdateEvent
from server.alerts.rules.spec import RULES, RuleSpec, Signal

Key = tuple[str, str]
"""(kind, subject): the fingerprint within a hall."""


@dataclass(frozen=True, slots=True)
class Step:
    """One lifecycle step of one alert; ``flapping``: a reopening past ``flap_max``."""

    alert: Alert
    event: UpdateEvent
    flapping: bool = False


@dataclass(slots=True)
class _Cond:
    last: Signal
    pending_since: datetime | None = None
    clear_since: datetime | None = None


def raise_hold_s(cfg: SiteConfig, spec: RuleSpec, subject_hold_s: float | None = None) -> float:
    """Seconds the condition must hold before the alert fires: the policy's override, else the
    subject's own hold (``Signal.hold_s``), else the rule's."""
    override = cfg.notifications.policy.hold_s
    if spec.kind in override:
        return override[spec.kind]
    if subject_hold_s is not None:
        return subject_hold_s
    if isinstance(spec.hold_s, str):
        return float(getattr(cfg.thresholds, spec.hold_s))
    return spec.hold_s


def clear_hold_s(cfg: SiteConfig, spec: RuleSpec) -> float:
    """Seconds the condition must stay clear before the alert resolves."""
    policy = cfg.notifications.policy
    hold = policy.clear_hold_s.get(spec.kind)
    if hold is None:
        hold = spec.clear_hold_s if spec.clear_hold_s is not None else policy.default_clear_hold_s
    return hold


class Lifecycle:
    """The conditions, open and recently resolved alerts of one hall."""

    def __init__(self, site: str) -> None:
        self.site = site
        self.conds: dict[Key, _Cond] = {}
        self.open: dict[Key, Alert] = {}
        self.resolved: dict[Key, Alert] = {}

    def last_signal(self, alert: Alert) -> Signal | None:
        """The signal last seen for ``alert``'s condition (None after a restart, until one comes)."""
        cond = self.conds.get((alert.kind, alert.subject))
        return None if cond is None else cond.last

    def replace(self, alert: Alert) -> None:
        """Keep a changed copy of an open alert."""
        self.open[(alert.kind, alert.subject)] = alert

    def pending(self) -> list[Signal]:
        """The last signal of every condition held (timers re-apply them on each tick)."""
        return [cond.last for cond in self.conds.values()]

    def apply(
        self,
        cfg: SiteConfig,
        signal: Signal,
        now: datetime,
        held_back: Callable[[Signal, datetime], MuteReason | None],
    ) -> Step | None:
        """Advance the condition of ``signal``: the alert fires, resolves, or nothing happens.

        A signal ``held_back`` (an inhibition) is remembered but changes nothing. An open
        alert whose condition still holds takes the signal's fresh parameters.
        """
        key = (str(signal.kind), signal.subject)
        cond = self.conds.get(key)
        if cond is None:
            if signal.on is not True and key not in self.open:
                return None  # nothing pending, nothing open: no state to keep
            cond = self.conds[key] = _Cond(signal)
        cond.last = signal
        if held_back(signal, now) is not None:
            return None
        alert = self.open.get(key)
        spec = RULES[signal.kind]
        if signal.on is True:
            cond.clear_since = None
            if cond.pending_since is None:
                cond.pending_since = signal.since or now
            held = (now - cond.pending_since).total_seconds()
            if alert is not None:
                return self._refresh(key, alert, spec, {**alert.params, **signal.params, "held_s": held}, now)
            if held >= raise_hold_s(cfg, spec, signal.hold_s):
                return self._fire(cfg, key, signal, spec, now, held)
        elif signal.on is False:
            cond.pending_since = None
            if alert is None:
                del self.conds[key]
                return None
            if cond.clear_since is None:
                cond.clear_since = now
            if (now - cond.clear_since).total_seconds() >= clear_hold_s(cfg, spec):
                del self.conds[key]
                return self._resolve(key, alert, now)
        else:
            cond.clear_since = None
            if alert is None:
                cond.pending_since = None
        return None

    def _fire(
        self, cfg: SiteConfig, key: Key, signal: Signal, spec: RuleSpec, now: datetime, held: float
    ) -> Step:
        """A new alert, or the same one reopened when it resolved within the flap window."""
        params = dict(signal.params)
        params.setdefault("held_s", held)
        policy = cfg.notifications.policy
        previous = self.resolved.pop(key, None)
        if (
            previous is not None
            and previous.resolved_at is not None
            and (now - previous.resolved_at).total_seconds() <= policy.flap_window_s
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
                muted=None,
            )
            self.open[key] = alert
            return Step(alert, UpdateEvent.REOPENED, flapping=alert.reopen_count > policy.flap_max)
        alert = Alert(
            id=Alert.new_id(),
            site=self.site,
            kind=str(signal.kind),
            subject=signal.subject,
            severity=signal.severity or spec.severity,
            state=AlertState.FIRING,
            audience=spec.audience,
            started_at=now,
            updated_at=now,
            params=params,
            zone=signal.zone,
            device=signal.device,
            vendor=signal.vendor,
        )
        self.open[key] = alert
        return Step(alert, UpdateEvent.FIRED)

    def _refresh(
        self, key: Key, alert: Alert, spec: RuleSpec, params: dict[str, Any], now: datetime
    ) -> Step | None:
        """An open alert takes fresh parameters quietly; a change of its ``spec.extends`` one is told."""
        if spec.extends is None or params.get(spec.extends) == alert.params.get(spec.extends):
            self.open[key] = alert.evolve(params=params)
            return None
        extended = self.open[key] = alert.evolve(params=params, updated_at=now)
        return Step(extended, UpdateEvent.EXTENDED)

    def _resolve(self, key: Key, alert: Alert, now: datetime) -> Step:
        resolved = alert.evolve(state=AlertState.RESOLVED, resolved_at=now, updated_at=now)
        del self.open[key]
        self.resolved[key] = resolved
        return Step(resolved, UpdateEvent.RESOLVED)

    def find(self, alert_id: str) -> Alert | None:
        """The open alert with this id, or None."""
        return next((a for a in self.open.values() if a.id == alert_id), None)

    def acknowledge(self, alert: Alert, by: str, comment: str | None, now: datetime) -> Step:
        """Acknowledge an open alert: who, when, their comment."""
        acked = alert.evolve(
            state=AlertState.ACKNOWLEDGED, acked_by=by, acked_at=now, ack_comment=comment, updated_at=now
        )
        self.replace(acked)
        return Step(acked, UpdateEvent.ACKNOWLEDGED)
