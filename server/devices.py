"""Device state: episodes (online, offline, faulted, out_of_service) and faults, from messages.

A device's state is derived from what it reported: ``offline`` when its status (or
last-will) says so, else ``out_of_service`` while the notice is on, else ``faulted`` while
a fault that makes it unusable is active, else ``online``. Each change closes the open
episode and opens a new one at the message's source time (never earlier than the open
episode's start, so late messages cannot create negative durations). Faults are rows of
their own: raised, first acknowledged (``POST /api/v1/faults/{id}/ack``), cleared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from lobbywatch.protocol.enums import DeviceEventKind, Presence
from lobbywatch.protocol.messages import DeviceEvent, DeviceHeartbeat, DeviceStatus, Envelope
from server.storage.models import DeviceEpisode, DeviceFault
from server.timeseries.lines import device_event_line, device_status_line, msg_time

INFLUX_STATE = {
    "online": "working",
    "faulted": "faulted",
    "out_of_service": "out_of_service",
    "offline": "offline",
}


@dataclass
class DeviceLive:
    """What the server knows about one device now."""

    site: str
    device: str
    vendor: str
    kind: str
    presence: str = "online"
    out_of_service: bool = False
    faults: dict[str, bool] = field(default_factory=dict)  # code -> makes the device unusable
    state: str | None = None
    since: datetime | None = None
    last_seen: datetime | None = None
    heartbeat_s: float | None = None
    model: str | None = None
    firmware: str | None = None

    def derive(self) -> str:
        if self.presence == Presence.OFFLINE.value:
            return "offline"
        if self.out_of_service:
            return "out_of_service"
        if any(self.faults.values()):
            return "faulted"
        return "online"

    def fault_code(self, state: str) -> str | None:
        if state != "faulted":
            return None
        return next((code for code, unusable in self.faults.items() if unusable), None)


class DeviceTracker:
    """Applies device messages to SQL (episodes, faults) and to the in-memory state."""

    def __init__(self) -> None:
        self.devices: dict[tuple[str, str], DeviceLive] = {}
        self._by_site: dict[str, dict[str, DeviceLive]] = {}  # site -> device id -> state

    def _add(self, key: tuple[str, str], dev: DeviceLive) -> None:
        self.devices[key] = dev
        self._by_site.setdefault(key[0], {})[key[1]] = dev

    def clear(self) -> None:
        self.devices.clear()
        self._by_site.clear()

    def load(self, session: Session, devices: dict[tuple[str, str], tuple[str, str]]) -> None:
        """Restore state from open episodes and faults; ``devices`` maps key -> (vendor, kind)."""
        for key, (vendor, kind) in devices.items():
            self._add(key, DeviceLive(key[0], key[1], vendor, kind))
        for ep in session.scalars(select(DeviceEpisode).where(DeviceEpisode.end.is_(None))):
            dev = self.get((ep.site, ep.device), "unknown", "")
            dev.state, dev.since = ep.state, ep.start
            dev.presence = "offline" if ep.state == "offline" else "online"
            dev.out_of_service = ep.state == "out_of_service"
        for f in session.scalars(select(DeviceFault).where(DeviceFault.cleared_at.is_(None))):
            self.get((f.site, f.device), f.vendor, "").faults[f.code] = f.unusable

    def get(self, key: tuple[str, str], vendor: str, kind: str) -> DeviceLive:
        dev = self.devices.get(key)
        if dev is None:
            dev = DeviceLive(key[0], key[1], vendor, kind)
            self._add(key, dev)
        return dev

    def site_devices(self, site: str) -> list[DeviceLive]:
        # list(...) copies in one step under the GIL: the ingest thread may be adding devices.
        return list(self._by_site.get(site, {}).values())

    def apply(self, session: Session, msg: Envelope, dev: DeviceLive) -> list[str]:
        """Apply one device message; returns the InfluxDB lines it yields."""
        ts = msg.ts if dev.since is None or msg.ts >= dev.since else dev.since
        lines: list[str] = []
        if dev.last_seen is None or msg.ts > dev.last_seen:
            dev.last_seen = msg.ts
        emit_status = False
        if isinstance(msg, DeviceStatus):
            emit_status = True
            dev.presence = msg.state.value
            if msg.heartbeat_s is not None:
                dev.heartbeat_s = msg.heartbeat_s
            if msg.info is not None:
                dev.model, dev.firmware = msg.info.model, msg.info.firmware
            if not msg.is_will and msg.state == Presence.ONLINE:
                dev.out_of_service = msg.out_of_service
                for code in msg.faults:
                    if code not in dev.faults:
                        self._raise(session, dev, code, ts, None, True, None)
                for code in [c for c in dev.faults if c not in msg.faults]:
                    self._clear(session, dev, code, ts)
        elif isinstance(msg, DeviceHeartbeat):
            dev.heartbeat_s = msg.interval_s
            if dev.presence != Presence.ONLINE.value:
                dev.presence = Presence.ONLINE.value
                emit_status = True
        elif isinstance(msg, DeviceEvent):
            emit_status = True
            lines.append(device_event_line(msg, dev.vendor))
            if msg.event == DeviceEventKind.FAULT_RAISED and msg.code is not None:
                if msg.code not in dev.faults:
                    unusable = True if msg.unusable is None else msg.unusable
                    sev = msg.severity.value if msg.severity else None
                    self._raise(session, dev, msg.code, ts, sev, unusable, msg.detail)
            elif msg.event == DeviceEventKind.FAULT_CLEARED and msg.code is not None:
                if msg.code in dev.faults:
                    self._clear(session, dev, msg.code, ts)
            elif msg.event == DeviceEventKind.OUT_OF_SERVICE_ON:
                dev.out_of_service = True
            elif msg.event == DeviceEventKind.OUT_OF_SERVICE_OFF:
                dev.out_of_service = False
        new_state = dev.derive()
        if new_state != dev.state:
            if dev.state is not None:
                session.execute(
                    update(DeviceEpisode)
                    .where(
                        DeviceEpisode.site == dev.site,
                        DeviceEpisode.device == dev.device,
                        DeviceEpisode.end.is_(None),
                    )
                    .values(end=ts)
                )
            session.add(
                DeviceEpisode(
                    site=dev.site,
                    device=dev.device,
                    state=new_state,
                    start=ts,
                    fault_code=dev.fault_code(new_state),
                )
            )
            dev.state, dev.since = new_state, ts
        if emit_status:
            lines.append(
                device_status_line(
                    dev.site,
                    dev.device,
                    dev.vendor,
                    dev.kind or "unknown",
                    INFLUX_STATE[new_state],
                    len(dev.faults),
                    msg_time(msg),
                )
            )
        return lines

    def _raise(
        self,
        session: Session,
        dev: DeviceLive,
        code: str,
        ts: datetime,
        severity: str | None,
        unusable: bool,
        detail: str | None,
    ) -> None:
        dev.faults[code] = unusable
        session.add(
            DeviceFault(
                site=dev.site,
                device=dev.device,
                vendor=dev.vendor,
                code=code,
                severity=severity,
                unusable=unusable,
                detail=detail,
                raised_at=ts,
            )
        )

    def _clear(self, session: Session, dev: DeviceLive, code: str, ts: datetime) -> None:
        dev.faults.pop(code, None)
        session.flush()
        session.execute(
            update(DeviceFault)
            .where(
                DeviceFault.site == dev.site,
                DeviceFault.device == dev.device,
                DeviceFault.code == code,
                DeviceFault.cleared_at.is_(None),
            )
            .values(cleared_at=ts)
        )
