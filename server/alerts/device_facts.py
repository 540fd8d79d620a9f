"""What the device rules may know about a hall's devices: a read-only view of the hall state.

:class:`DeviceFacts` is the view the device rules (``rules/devices.py``) use: presence and
why a device is offline, out of service, faults, working, the hall's kiosks.
:class:`HallDevices` answers it from :mod:`server.hall_state`, the one owner of what a
device's state is (docs/server.md, "One hall state").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from lobbywatch.protocol.messages import DeviceEvent, DeviceHeartbeat, DeviceStatus
from server.hall_records import DeviceState
from server.hall_state import HallState


class OfflineReason(StrEnum):
    """Why a device counts as offline (also the text key of the ``device_offline`` alert)."""

    WILL = "will"
    """Its last-will message: the connection dropped."""
    SHUTDOWN = "shutdown"
    """It said it went offline (a clean shutdown)."""
    HEARTBEAT = "heartbeat"
    """Its heartbeat is overdue."""


@dataclass(frozen=True, slots=True)
class Offline:
    since: datetime
    reason: OfflineReason


class DeviceFacts(Protocol):
    """The device facts of one hall, read-only, as the device rules ask for them."""

    def devices(self) -> Iterable[str]:
        """The devices heard of."""
        ...

    def heard_of(self, device: str) -> bool: ...

    def offline(self, device: str, now: datetime) -> Offline | None:
        """Since when and why ``device`` is offline at ``now``; None: online (or never heard of)."""
        ...

    def out_of_service(self, device: str) -> bool: ...

    def faults(self, device: str) -> Mapping[str, bool]:
        """Its open faults: code -> whether the fault makes the device unusable."""
        ...

    def working(self, device: str, now: datetime) -> bool | None:
        """Whether it serves customers at ``now``; None: never heard of."""
        ...

    def kiosks(self, now: datetime) -> tuple[list[str], list[str]]:
        """(working, down) ids of the hall's self-service devices at ``now``."""
        ...

    def offline_grace_s(self, device: str) -> float:
        """How long it may be silent, or away, before it counts as offline (its kind's grace)."""
        ...


@dataclass(frozen=True, slots=True)
class RaisedFault:
    code: str
    detail: str | None = None
    unusable: bool | None = None


@dataclass(slots=True)
class DeviceChange:
    """What one device message changed: which device rules to evaluate again."""

    device: str
    presence: bool = False
    raised: list[RaisedFault] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)
    capacity: bool = False


DeviceMessage = DeviceStatus | DeviceHeartbeat | DeviceEvent


class HallDevices:
    """:class:`DeviceFacts` of one hall, read from the server's one hall state
    (:mod:`server.hall_state`, which owns what online, offline and working mean)."""

    def __init__(self, hall: HallState, site: str) -> None:
        self._hall = hall
        self._site = site
        self._seen_faults: dict[str, set[str]] = {}

    def _dev(self, device: str) -> DeviceState | None:
        return self._hall.hall(self._site).devices.get(device)

    def devices(self) -> Iterable[str]:
        return list(self._hall.hall(self._site).devices)

    def heard_of(self, device: str) -> bool:
        """Any evidence of it: a message since start, or a recorded state."""
        dev = self._dev(device)
        return dev is not None and (dev.last_heard is not None or dev.state is not None)

    def offline(self, device: str, now: datetime) -> Offline | None:
        dev = self._dev(device)
        if dev is None:
            return None
        state = self._hall.device_now(dev, now)
        if state.state != "offline" or state.reason is None:
            return None
        return Offline(state.since or now, OfflineReason(state.reason))

    def out_of_service(self, device: str) -> bool:
        dev = self._dev(device)
        return dev is not None and dev.out_of_service

    def faults(self, device: str) -> Mapping[str, bool]:
        dev = self._dev(device)
        return {} if dev is None else dict(dev.faults)

    def working(self, device: str, now: datetime) -> bool | None:
        dev = self._dev(device)
        return None if dev is None else self._hall.device_now(dev, now).working

    def kiosks(self, now: datetime) -> tuple[list[str], list[str]]:
        return self._hall.kiosks(self._site, now)

    def offline_grace_s(self, device: str) -> float:
        return self._hall.offline_grace_s(self._site, device)

    def change(self, message: DeviceMessage) -> DeviceChange:
        """Which device rules ``message`` (already applied to the hall state) touches: presence,
        capacity, and the faults raised or cleared since this hall's rules last looked."""
        change = DeviceChange(
            message.source,
            presence=isinstance(message, (DeviceStatus, DeviceHeartbeat)),
            capacity=isinstance(message, (DeviceStatus, DeviceEvent)),
        )
        dev = self._dev(message.source)
        now_faults = {} if dev is None else dict(dev.faults)
        seen = self._seen_faults.get(message.source, set())
        change.cleared = sorted(seen - now_faults.keys())
        for code in sorted(now_faults.keys() - seen):
            detail = dev.fault_detail.get(code) if dev is not None else None
            change.raised.append(RaisedFault(code, detail, now_faults[code]))
        self._seen_faults[message.source] = set(now_faults)
        return change
