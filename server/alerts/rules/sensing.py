"""Sensing rules: a camera blind, the hall's gateway silent, a source's clock wrong; and the
sensing state the inhibitions read (``server.alerts.muting``): which cameras are blind,
whether the gateway is silent or catching up on a backlog.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from lobbywatch.config.site import SiteConfig
from lobbywatch.protocol.enums import Presence
from lobbywatch.protocol.messages import CameraStatus
from server.alerts.model import AlertKind
from server.alerts.rules.spec import Signal, hall_name
from server.hall_records import ClockProblem, camera_blind
from server.hall_state import HallState


class SensingText(StrEnum):
    """Text keys of ``sensing_blind``: what is blind (``what``) and why (``why``)."""

    CAMERA = "camera"
    GATEWAY = "gateway"
    STREAM_LOST = "stream_lost"
    CAMERA_OFFLINE = "camera_offline"
    NO_DATA = "no_data"


class Sensing:
    """What the hall's sensing is doing, read from the hall state (``server.hall_state``):
    which cameras are blind, when the gateway last delivered, whether it is silent or behind."""

    def __init__(self, hall: HallState, site: str) -> None:
        self._hall = hall
        self._site = site

    @property
    def blind_cameras(self) -> set[str]:
        return self._hall.blind_cameras(self._site)

    @property
    def gateway_last(self) -> datetime | None:
        return self._hall.hall(self._site).last_batch

    @property
    def gateway_silent(self) -> bool:
        return self.gateway_silent_at(None)

    def gateway_silent_at(self, now: datetime | None) -> bool:
        """Whether the gateway is silent at ``now``: the hall state's one definition of the
        hall's data being absent (``HallState.gateway_silent``, ``HallState.data_absent``)."""
        return self._hall.gateway_silent(self._site, now)

    @property
    def gateway_silence_s(self) -> float:
        """How long the gateway may send nothing (``HallState.silence_s``)."""
        return self._hall.silence_s(self._site)

    @property
    def gateway_catching_up(self) -> bool:
        return self._hall.hall(self._site).catching_up

    @property
    def clock_sources(self) -> list[str]:
        return self._hall.clock_sources(self._site)

    def clock_problem(self, source: str) -> ClockProblem | None:
        """The source's messages rejected for their time, while its clock is wrong (now)."""
        return self._hall.clock_problem(self._site, source)


def camera_signal(cfg: SiteConfig, message: CameraStatus) -> Signal:
    """On while the camera is blind (``server.hall_state.camera_blind``); ``why`` is the
    camera's own reason (its words, shown as sent), or a text key. It must stay blind for
    ``thresholds.camera_blind_hold_s`` before the alert fires: a camera's birth says its stream
    is down until the first frame, so without the hold every start would page someone."""
    blind = camera_blind(message)
    lost = SensingText.STREAM_LOST if message.state == Presence.ONLINE else SensingText.CAMERA_OFFLINE
    params = {"what": str(SensingText.CAMERA), "camera": message.source, "why": message.reason or str(lost)}
    hold = cfg.thresholds.camera_blind_hold_s
    return Signal(AlertKind.SENSING_BLIND, f"camera:{message.source}", blind, params, hold_s=hold)


def gateway_signal(cfg: SiteConfig, sensing: Sensing, now: datetime) -> Signal | None:
    """On while the hall state says the gateway is silent: no ingest batch for
    ``policy.gateway_silence_s``, the moment the wall says "no data" (None before the first)."""
    if sensing.gateway_last is None:
        return None
    params = {
        "what": str(SensingText.GATEWAY),
        "hall": hall_name(cfg),
        "why": str(SensingText.NO_DATA),
        "silence_s": sensing.gateway_silence_s,
    }
    return Signal(AlertKind.SENSING_BLIND, "gateway", sensing.gateway_silent_at(now), params)


def clock_signals(cfg: SiteConfig, sensing: Sensing) -> list[Signal]:
    """On while a source's messages are rejected for their time (a device's or camera's clock
    is wrong: ``server.hall_state.HallState.clock_problem``), off once one is accepted."""
    signals: list[Signal] = []
    for source in sensing.clock_sources:
        problem = sensing.clock_problem(source)
        params: dict[str, Any] = {"source": source}
        if problem is not None:
            params.update(count=problem.count, stamped=problem.stamped.isoformat(timespec="seconds"))
        device: str | None = source
        try:
            vendor: str | None = cfg.device(source).vendor
        except KeyError:  # a camera, or a device the hall does not list
            device = vendor = None
        on = problem is not None
        signals.append(
            Signal(AlertKind.DEVICE_CLOCK, f"clock:{source}", on, params, device=device, vendor=vendor)
        )
    return signals
