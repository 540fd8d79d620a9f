"""Muting: silences and inhibitions, each a :class:`Muter` that says why it holds back.

* Inhibitions hold a rule's *signal* back while the data behind it is stale: nothing from
  the hall while its gateway is silent (but ``sensing_blind``), a blind camera's zones,
  ``device_offline`` while the gateway catches up on a backlog. A held-back signal neither
  fires nor resolves its alert.
* Silences (hall config and run time) hold an *alert's* notifications back: it is tracked,
  stored and shown, not sent, and does not escalate.
* Late data (``server.alerts.late``) holds back the alerts a backlog raises until the
  catch-up ends; :meth:`Muting.refresh` leaves their reason alone.

The reason (:class:`~server.alerts.model.MuteReason`) is kept on the alert (``muted``) and
on each update held back; ``server.alerts.templates`` renders it (docs/alerts.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Protocol, TypeVar

from lobbywatch.config.notify import Silence
from lobbywatch.config.site import SiteConfig
from server.alerts.lifecycle import Lifecycle
from server.alerts.model import Alert, AlertKind, MuteReason
from server.alerts.rules.sensing import Sensing
from server.alerts.rules.spec import Signal

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)


class MuteText(StrEnum):
    """Text keys of the reasons muters give (``MuteReason.key``)."""

    SILENCE = "silence"
    SILENCE_UNTIL = "silence_until"
    GATEWAY_SILENT = "gateway_silent"
    CAMERA_BLIND = "camera_blind"
    GATEWAY_CATCHING_UP = "gateway_catching_up"
    FLAPPING = "flapping"
    LATE_DATA = "late_data"


class Muter(Protocol[T_contra]):
    """Says why ``target`` is held back at ``now``, or None."""

    def mute(self, target: T_contra, now: datetime) -> MuteReason | None: ...


class Target(Protocol):
    """What a silence matches on: an alert, or the signal that raises it."""

    @property
    def kind(self) -> str: ...
    @property
    def zone(self) -> str | None: ...
    @property
    def device(self) -> str | None: ...
    @property
    def vendor(self) -> str | None: ...


class SilenceMuter:
    """A silence or maintenance window: every matcher set must match, within [starts, ends)."""

    def __init__(self, silence: Silence) -> None:
        self.silence = silence

    def mute(self, target: Target, now: datetime) -> MuteReason | None:
        s = self.silence
        if not s.starts <= now < s.ends:
            return None
        if s.kinds and target.kind not in s.kinds:
            return None
        if s.zones and target.zone not in s.zones:
            return None
        if s.devices and target.device not in s.devices:
            return None
        if s.vendor is not None and target.vendor != s.vendor:
            return None
        if s.reason:
            return MuteReason("silence", MuteText.SILENCE, s.reason)
        return MuteReason("silence", MuteText.SILENCE_UNTIL, s.ends.isoformat(timespec="minutes"))


class GatewaySilent:
    """Nothing arrives from the hall: its last readings are stale (but say it is blind)."""

    def __init__(self, sensing: Sensing) -> None:
        self.sensing = sensing

    def mute(self, target: Signal, now: datetime) -> MuteReason | None:
        if self.sensing.gateway_silent and target.kind != AlertKind.SENSING_BLIND:
            return MuteReason("inhibit", MuteText.GATEWAY_SILENT, "gateway")
        return None


class CameraBlind:
    """A zone rule resting on a blind camera's data."""

    def __init__(self, sensing: Sensing) -> None:
        self.sensing = sensing

    def mute(self, target: Signal, now: datetime) -> MuteReason | None:
        if target.camera is not None and target.camera in self.sensing.blind_cameras:
            return MuteReason("inhibit", MuteText.CAMERA_BLIND, target.camera)
        return None


class GatewayCatchingUp:
    """A hall whose gateway delivers an old backlog has not lost its devices."""

    def __init__(self, sensing: Sensing) -> None:
        self.sensing = sensing

    def mute(self, target: Signal, now: datetime) -> MuteReason | None:
        if self.sensing.gateway_catching_up and target.kind == AlertKind.DEVICE_OFFLINE:
            return MuteReason("inhibit", MuteText.GATEWAY_CATCHING_UP, "gateway")
        return None


class Muting:
    """The muters of one hall: its inhibitions and its silences (config and run time)."""

    def __init__(self, sensing: Sensing) -> None:
        self.inhibitions: tuple[Muter[Signal], ...] = (
            GatewaySilent(sensing),
            CameraBlind(sensing),
            GatewayCatchingUp(sensing),
        )
        self.added: list[Silence] = []
        """Silences added at run time (``AlertEngine.add_silence``)."""

    def inhibited(self, signal: Signal, now: datetime) -> MuteReason | None:
        """Why ``signal`` is held back from the lifecycle now, or None."""
        if signal.kind == AlertKind.SENSING_BLIND:
            return None
        return first(self.inhibitions, signal, now)

    def refresh(
        self, cfg: SiteConfig, lifecycle: Lifecycle, now: datetime
    ) -> tuple[list[Alert], list[Alert]]:
        """Record on each open alert why it is muted now (a silence, else an inhibition of
        its last signal). Returns the alerts a silence that ended lets through (to be told
        once, as fired) and the others whose reason changed (to be stored)."""
        let_through: list[Alert] = []
        changed: list[Alert] = []
        for alert in list(lifecycle.open.values()):
            if alert.late:
                continue  # held back until the catch-up ends (server.alerts.late)
            signal = lifecycle.last_signal(alert)
            reason = self.silenced(cfg, alert, now) or (self.inhibited(signal, now) if signal else None)
            if reason == alert.muted:
                continue
            was_silenced = alert.silenced
            alert = alert.evolve(muted=reason, updated_at=now)
            lifecycle.replace(alert)
            (let_through if was_silenced and not alert.silenced else changed).append(alert)
        return let_through, changed

    def silenced(self, cfg: SiteConfig, target: Target, now: datetime) -> MuteReason | None:
        """The first silence (config, then run time) that holds ``target`` back now, or None."""
        silences = [*cfg.notifications.silences, *self.added]
        return first((SilenceMuter(s) for s in silences), target, now) if silences else None


def flapping(alert: Alert) -> MuteReason:
    """Why a reopening past ``policy.flap_max`` is not sent."""
    return MuteReason("flap", MuteText.FLAPPING, str(alert.reopen_count))


def first(muters: Iterable[Muter[T]], target: T, now: datetime) -> MuteReason | None:
    """The reason of the first muter that holds ``target`` back, or None."""
    for muter in muters:
        reason = muter.mute(target, now)
        if reason is not None:
            return reason
    return None
