"""What the device rules may know about a hall's devices, and the engine's own record of it.

:class:`DeviceFacts` is the read-only view the device rules (``rules/devices.py``) use:
presence and why a device is offline, out of service, faults, working. :class:`HeardDevices`
is the alert engine's implementation, fed with the devices' messages; the server's hall
state can take its place by answering the same questions (docs/alerts.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from lobbywatch.protocol.enums import DeviceEventKind, Presence
from lobbywatch.protocol.messages import DeviceEvent, DeviceHeartbeat, DeviceStatus


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


@dataclass
class _Device:
    online: bool = True
    will: bool = False
    last_seen: datetime | None = None
    offline_at: datetime | None = None
    interval_s: float = 30.0
    faults: dict[str, bool] = field(default_factory=dict)  # code -> unusable
    out_of_service: bool = False


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


class HeardDevices:
    """:class:`DeviceFacts` from the devices' own messages (status, heartbeat, events)."""

    def __init__(self) -> None:
        self._devices: dict[str, _Device] = {}

    def devices(self) -> Iterable[str]:
        return list(self._devices)

    def heard_of(self, device: str) -> bool:
        return device in self._devices

    def offline(self, device: str, now: datetime) -> Offline | None:
        dev = self._devices.get(device)
        if dev is None:
            return None
        if not dev.online:
            reason = OfflineReason.WILL if dev.will else OfflineReason.SHUTDOWN
            return Offline(dev.offline_at or now, reason)
        if dev.last_seen is not None:
            due = dev.last_seen + timedelta(seconds=dev.interval_s)
            if now > due:
                return Offline(due, OfflineReason.HEARTBEAT)
        return None

    def out_of_service(self, device: str) -> bool:
        dev = self._devices.get(device)
        return dev is not None and dev.out_of_service

    def faults(self, device: str) -> Mapping[str, bool]:
        dev = self._devices.get(device)
        return {} if dev is None else dict(dev.faults)

    def working(self, device: str, now: datetime) -> bool | None:
        """Announced online, in service, no unusable fault. A heartbeat overdue alone does not
        count it down here (``device_offline`` says that)."""
        dev = self._devices.get(device)
        if dev is None:
            return None
        return dev.online and not dev.out_of_service and not any(dev.faults.values())

    def restart_heartbeat_clocks(self, now: datetime) -> None:
        """Heartbeats could not arrive while the hall was cut off: count from ``now`` again."""
        for dev in self._devices.values():
            if dev.last_seen is not None:
                dev.last_seen = now

    def apply(self, message: DeviceMessage, now: datetime) -> DeviceChange:
        """Record what ``message`` says about its device; return what changed."""
        dev = self._devices.setdefault(message.source, _Device())
        dev.last_seen = now
        change = DeviceChange(message.source)
        match message:
            case DeviceStatus():
                if message.heartbeat_s is not None:
                    dev.interval_s = message.heartbeat_s
                dev.out_of_service = message.out_of_service
                dev.online = message.state == Presence.ONLINE
                dev.will = message.will
                dev.offline_at = None if dev.online else message.ts
                known = set(dev.faults)
                for code in known - set(message.faults):
                    del dev.faults[code]
                    change.cleared.append(code)
                for code in set(message.faults) - known:
                    dev.faults[code] = True
                    change.raised.append(RaisedFault(code))
                change.presence = change.capacity = True
            case DeviceHeartbeat():
                dev.interval_s = message.interval_s
                if not dev.online:
                    dev.online, dev.will, dev.offline_at = True, False, None
                change.presence = True
            case DeviceEvent():
                if message.event == DeviceEventKind.FAULT_RAISED and message.code is not None:
                    dev.faults[message.code] = message.unusable is not False
                    change.raised.append(RaisedFault(message.code, message.detail, message.unusable))
                elif message.event == DeviceEventKind.FAULT_CLEARED and message.code is not None:
                    dev.faults.pop(message.code, None)
                    change.cleared.append(message.code)
                elif message.event == DeviceEventKind.OUT_OF_SERVICE_ON:
                    dev.out_of_service = True
                elif message.event == DeviceEventKind.OUT_OF_SERVICE_OFF:
                    dev.out_of_service = False
                change.capacity = True
        return change
