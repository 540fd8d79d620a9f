"""Device history in SQL: episodes (online, offline, faulted, out_of_service) and faults.

What a device's state *is* belongs to :mod:`server.hall_state`; this module records its
changes. Each change closes the open episode and opens a new one (never earlier than the
open one began, so late messages cannot make negative durations); heartbeat expiry opens an
``offline`` episode at the moment the device fell silent. Faults are rows of their own:
raised, first acknowledged (``POST /api/v1/faults/{id}/ack``), cleared.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from lobbywatch.protocol.messages import DeviceEvent, DeviceHeartbeat, DeviceStatus
from server.hall_records import DeviceState, FaultChange
from server.hall_state import HallState
from server.storage.models import DeviceEpisode, DeviceFault
from server.timeseries.lines import device_event_line, device_status_line, msg_time, ns

INFLUX_STATE = {
    "online": "working",
    "faulted": "faulted",
    "out_of_service": "out_of_service",
    "offline": "offline",
}

DeviceMessage = DeviceStatus | DeviceHeartbeat | DeviceEvent


class DeviceTracker:
    """Writes device state changes (as the hall state defines them) to SQL and InfluxDB lines."""

    def __init__(self, hall: HallState) -> None:
        self.hall = hall

    def load(self, session: Session, devices: dict[tuple[str, str], tuple[str, str]]) -> None:
        """Restore state from open episodes and faults; ``devices`` maps key -> (vendor, kind)."""
        self.hall.clear_devices()
        for (site, device), (vendor, kind) in devices.items():
            self.hall.device(site, device, vendor, kind)
        for ep in session.scalars(select(DeviceEpisode).where(DeviceEpisode.end.is_(None))):
            dev = self.hall.device(ep.site, ep.device)
            dev.state, dev.since = ep.state, ep.start
            dev.presence = "offline" if ep.state == "offline" else "online"
            dev.offline_at = ep.start if ep.state == "offline" else None
            dev.out_of_service = ep.state == "out_of_service"
        for f in session.scalars(select(DeviceFault).where(DeviceFault.cleared_at.is_(None))):
            dev = self.hall.device(f.site, f.device, f.vendor)
            dev.faults[f.code] = f.unusable
            dev.fault_detail[f.code] = f.detail

    def record(
        self, session: Session, msg: DeviceMessage, dev: DeviceState, changes: list[FaultChange]
    ) -> list[str]:
        """Record what one applied device message changed; returns the InfluxDB lines it yields."""
        ts = msg.ts if dev.since is None or msg.ts >= dev.since else dev.since
        lines: list[str] = []
        if isinstance(msg, DeviceEvent):
            lines.append(device_event_line(msg, dev.vendor))
        for change in changes:
            if change.raised:
                self._raise(session, dev, change, ts)
            else:
                self._clear(session, dev, change.code, ts)
        now = self.hall.device_now(dev)
        if now.state == "offline" and now.since is not None:
            ts = max(now.since, dev.since) if dev.since else now.since
        changed = self._transition(session, dev, now.state, ts)
        if changed or isinstance(msg, (DeviceStatus, DeviceEvent)):
            lines.append(self._status_line(dev, msg_time(msg)))
        return lines

    def expire(self, session: Session, site: str) -> list[str]:
        """Record heartbeat expiry (and comeback) of the hall's devices as of now."""
        lines: list[str] = []
        for dev in self.hall.devices(site):
            now = self.hall.device_now(dev)
            if now.state == "unknown" or now.state == dev.state:
                continue
            at = now.since or self.hall.heartbeat_due(dev)
            if dev.since is not None and at < dev.since:
                at = dev.since
            if self._transition(session, dev, now.state, at):
                lines.append(self._status_line(dev, ns(at)))
        return lines

    def _transition(self, session: Session, dev: DeviceState, state: str, ts: datetime) -> bool:
        if state == "unknown" or state == dev.state:
            return False
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
                site=dev.site, device=dev.device, state=state, start=ts, fault_code=dev.fault_code(state)
            )
        )
        dev.state, dev.since = state, ts
        return True

    def _status_line(self, dev: DeviceState, at_ns: int) -> str:
        state = INFLUX_STATE.get(dev.state or "online", "working")
        return device_status_line(
            dev.site, dev.device, dev.vendor, dev.kind or "unknown", state, len(dev.faults), at_ns
        )

    def _raise(self, session: Session, dev: DeviceState, change: FaultChange, ts: datetime) -> None:
        session.add(
            DeviceFault(
                site=dev.site,
                device=dev.device,
                vendor=dev.vendor,
                code=change.code,
                severity=change.severity,
                unusable=change.unusable,
                detail=change.detail,
                raised_at=ts,
            )
        )

    def _clear(self, session: Session, dev: DeviceState, code: str, ts: datetime) -> None:
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
