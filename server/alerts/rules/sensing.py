"""Sensing rules: a camera blind, the hall's gateway silent; and the sensing state the
inhibitions read (``server.alerts.muting``): which cameras are blind, whether the gateway
is silent or catching up on a backlog.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from lobbywatch.config.site import SiteConfig
from lobbywatch.protocol.enums import Presence
from lobbywatch.protocol.messages import CameraStatus
from server.alerts.model import AlertKind
from server.alerts.rules.spec import Signal, hall_name


class SensingText(StrEnum):
    """Text keys of ``sensing_blind``: what is blind (``what``) and why (``why``)."""

    CAMERA = "camera"
    GATEWAY = "gateway"
    STREAM_LOST = "stream_lost"
    CAMERA_OFFLINE = "camera_offline"
    NO_DATA = "no_data"


@dataclass
class Sensing:
    """What the hall's sensing is doing, from camera status and the gateway's batches."""

    blind_cameras: set[str] = field(default_factory=set)
    gateway_last: datetime | None = None
    gateway_silent: bool = False
    gateway_catching_up: bool = False

    def batch(self, cfg: SiteConfig, now: datetime, backlog: int, oldest_age_s: float) -> bool:
        """A gateway batch arrived. True when it ends a time the gateway was silent or
        behind (the devices' heartbeats could not arrive in that time)."""
        was_blind = self.gateway_silent or self.gateway_catching_up
        self.gateway_last = now
        self.gateway_catching_up = backlog > 0 and oldest_age_s > cfg.notifications.policy.gateway_silence_s
        return was_blind and not self.gateway_catching_up


def camera_signal(sensing: Sensing, message: CameraStatus) -> Signal:
    """On while the camera is offline or its stream is lost; ``why`` is the camera's own
    reason (its words, shown as sent), or a text key."""
    blind = message.state == Presence.OFFLINE or not message.stream_ok
    if blind:
        sensing.blind_cameras.add(message.source)
    else:
        sensing.blind_cameras.discard(message.source)
    lost = SensingText.STREAM_LOST if message.state == Presence.ONLINE else SensingText.CAMERA_OFFLINE
    params = {"what": str(SensingText.CAMERA), "camera": message.source, "why": message.reason or str(lost)}
    return Signal(AlertKind.SENSING_BLIND, f"camera:{message.source}", blind, params)


def gateway_signal(cfg: SiteConfig, sensing: Sensing, now: datetime) -> Signal | None:
    """On when no ingest batch came for ``policy.gateway_silence_s`` (None before the first)."""
    if sensing.gateway_last is None:
        return None
    limit = cfg.notifications.policy.gateway_silence_s
    sensing.gateway_silent = (now - sensing.gateway_last).total_seconds() > limit
    params = {
        "what": str(SensingText.GATEWAY),
        "hall": hall_name(cfg),
        "why": str(SensingText.NO_DATA),
        "silence_s": limit,
    }
    return Signal(AlertKind.SENSING_BLIND, "gateway", sensing.gateway_silent, params)
