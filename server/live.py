"""Live views of each hall (zones, queues, expected wait, devices, counters, the wait per
business type, cameras, gateway backlog) read from :mod:`server.hall_state`, and the change
notifications the server-sent events are built on (ingest calls :meth:`LiveState.notify`
after each commit; on the JetStream bus each API replica's live feed does, after applying a
stored batch to the replica's own hall state: :mod:`server.bus_live`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lobbywatch.clock import Clock
from lobbywatch.config.business import business_name
from lobbywatch.protocol.enums import ZoneKind
from lobbywatch.protocol.ingest import Backlog
from lobbywatch.protocol.messages import LongWait
from server.core.config import IngestConfig
from server.hall_records import DeviceState
from server.hall_state import HallState
from server.subscribers import Subscribers


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ZoneView(_Out):
    zone: str = Field(description="Zone id.")
    kind: str = Field(description="Zone kind.")
    camera: str = Field(description="Camera that reported it.")
    occupancy: float = Field(description="Smoothed people in the zone.")
    count: int = Field(description="People counted in the latest frame.")
    queue_length: int | None = Field(default=None, description="People in line (queue zones).")
    longest_wait_s: float | None = Field(default=None, description="Longest current dwell, s.")
    expected_wait_s: float | None = Field(default=None, description="Expected wait joining now, s.")
    waits_over_limit: int = Field(description="People past the wait limit.")
    loitering: int = Field(description="People loitering.")
    long_waits: list[LongWait] = Field(
        default_factory=list,
        description=(
            "Customers here waiting past the care-visit limit as this camera lists them, one "
            "per camera visit: a customer two cameras see is listed by both. How many customers "
            "wait past the limit is the number of care tasks (open long_wait alerts, joined "
            "across cameras by server/handover.py), which the wall page counts."
        ),
    )
    entered_total: int = Field(description="Entries since the camera's epoch began.")
    exited_total: int = Field(description="Exits since the camera's epoch began.")
    ts: datetime = Field(description="Source time of the reading.")


class QueueView(_Out):
    zone: str
    queue_length: int
    expected_wait_s: float | None = None
    longest_wait_s: float | None = None


class DeviceView(_Out):
    device: str = Field(description="Device id.")
    vendor: str = Field(description="Maintenance vendor id.")
    kind: str = Field(description="Device kind.")
    state: str = Field(description="online, offline, faulted, out_of_service, or unknown.")
    since: datetime | None = Field(default=None, description="When the current state began.")
    faults: list[str] = Field(description="Active fault codes.")
    last_seen: datetime | None = Field(default=None, description="Source time of the last message.")
    heartbeat_s: float | None = Field(default=None, description="Promised heartbeat interval, s.")
    clock_problem: str | None = Field(
        default=None,
        description="Why its messages are rejected now: its clock is wrong (the last rejection's reason).",
    )
    clock_rejected: int = Field(
        default=0, description="Messages rejected for their time since the server started."
    )


class CounterView(_Out):
    counter: str
    state: str = Field(description="serving, standby, learning or away (server/counter_states.py).")
    since: datetime | None = None
    ts: datetime = Field(description="Time of what says so.")
    source: str = Field(
        default="terminal",
        description="What says so: terminal (set by hand), ticket, zone (a person at the counter) or idle.",
    )


class BusinessWaitView(_Out):
    """Tell the wait for one business type (from the queue tickets)."""

    business: str = Field(description="Business type id.")
    name: dict[str, str] = Field(description="Its name, en and zh-CN.")
    ahead: int = Field(description="Tickets waiting (not yet called): ahead of someone taking one now.")
    expected_wait_s: float = Field(description="Expected wait for a ticket taken now, s.")
    service_s: float = Field(description="Service time it rests on: median of recent ones, else the limit.")


class CameraView(_Out):
    camera: str
    state: str
    stream_ok: bool
    fps: float | None = None
    reason: str | None = None
    ts: datetime


class GatewayView(_Out):
    gateway: str
    backlog: Backlog
    sent_at: datetime
    received_at: datetime


class SiteLiveView(_Out):
    """The floor now."""

    site: str
    data: Literal["live", "delayed", "absent"] = Field(
        description=(
            "live; delayed (the gateway reports an outbox backlog older than "
            "ingest.delayed_backlog_age_s: data is arriving late); absent (no batch from the "
            "gateway yet, or none for the hall's notifications.policy.gateway_silence_s: "
            "server/hall_state.py, the same moment the gateway-silence alert fires)."
        )
    )
    as_of: datetime = Field(description="Server time of this snapshot.")
    occupancy: float = Field(description="People in the hall (sum over zones).")
    expected_wait_s: float | None = Field(description="Max expected wait over queue/waiting zones.")
    kiosks_working: int
    kiosks_total: int
    counters_serving: int
    zones: list[ZoneView]
    queues: list[QueueView]
    devices: list[DeviceView]
    counters: list[CounterView]
    waits_by_business: list[BusinessWaitView] = Field(
        default_factory=list, description="Tell the wait per business type (empty without a ticket system)."
    )
    cameras: list[CameraView]
    gateways: list[GatewayView]


def _device_view(hall: HallState, d: DeviceState) -> DeviceView:
    now = hall.device_now(d)
    rejected = hall.hall(d.site).clock_problems.get(d.device)
    problem = hall.clock_problem(d.site, d.device)
    return DeviceView(
        device=d.device,
        vendor=d.vendor,
        kind=d.kind or "unknown",
        state=now.state,
        since=now.since if now.state == "offline" else d.since,
        faults=sorted(d.faults),
        last_seen=d.last_seen,
        heartbeat_s=d.heartbeat_s,
        clock_problem=None if problem is None else problem.reason,
        clock_rejected=0 if rejected is None else rejected.count,
    )


class LiveState:
    """Views of the hall state for the pages and the live API, and their change notifications."""

    def __init__(self, hall: HallState, clock: Clock, cfg: IngestConfig) -> None:
        self.hall = hall
        self._clock = clock
        self._cfg = cfg
        self._listeners = Subscribers[Callable[[str], None]]()

    def device_view(self, site: str, device: str) -> DeviceView | None:
        """The device as the hall state knows it; one whose every message was rejected for its
        time shows as never heard of, with its clock problem."""
        dev = self.hall.hall(site).devices.get(device)
        if dev is None and device in self.hall.hall(site).clock_problems:
            dev = DeviceState(site, device, "unknown", "")
        return None if dev is None else _device_view(self.hall, dev)

    def aggregates(self, site: str) -> tuple[float, float | None, int, int, int]:
        """(occupancy, expected wait, kiosks working, kiosks total, counters serving)."""
        # list(...) copies a dict in one step under the GIL: the ingest thread may be adding
        # entries while a request thread reads.
        zones = list(self.hall.hall(site).zones.values())
        waits = [
            z.expected_wait_s
            for z in zones
            if z.kind in (ZoneKind.QUEUE, ZoneKind.WAITING) and z.expected_wait_s is not None
        ]
        working, down = self.hall.kiosks(site)
        serving = self.hall.counters_serving(site)
        return (
            self.hall.occupancy(site),
            (max(waits) if waits else None),
            len(working),
            len(working) + len(down),
            serving,
        )

    def business_waits(self, site: str) -> list[BusinessWaitView]:
        """Tell the wait per business type, as the live state and the hall displays show it."""
        cfg = self.hall.config(site)
        types = cfg.business if cfg is not None else {}
        return [
            BusinessWaitView(
                business=w.business,
                name=business_name(types, w.business),
                ahead=w.ahead,
                expected_wait_s=round(w.expected_wait_s, 1),
                service_s=round(w.service_s, 1),
            )
            for w in self.hall.business_waits(site)
        ]

    def data_status(self, site: str) -> Literal["live", "delayed", "absent"]:
        """absent as the hall state says (:meth:`HallState.data_absent`: when the
        gateway-silence alert fires); else delayed while a gateway reports an old backlog."""
        h = self.hall.hall(site)
        if self.hall.data_absent(site):
            return "absent"
        if any(g.backlog.oldest_age_s > self._cfg.delayed_backlog_age_s for g in list(h.gateways.values())):
            return "delayed"
        return "live"

    def snapshot(self, site: str) -> SiteLiveView:
        """The whole floor of one hall now, as the wall page and ``GET .../live`` show it."""
        h = self.hall.hall(site)
        occupancy, expected, working, total, serving = self.aggregates(site)
        zones = [
            ZoneView(
                zone=z.zone,
                kind=z.kind.value,
                camera=z.source,
                occupancy=z.occupancy,
                count=z.count,
                queue_length=z.queue_length,
                longest_wait_s=z.longest_wait_s,
                expected_wait_s=z.expected_wait_s,
                waits_over_limit=z.waits_over_limit,
                loitering=z.loitering,
                long_waits=list(z.long_waits or ()),
                entered_total=z.entered_total,
                exited_total=z.exited_total,
                ts=z.ts,
            )
            for z in sorted(list(h.zones.values()), key=lambda z: z.zone)
        ]
        return SiteLiveView(
            site=site,
            data=self.data_status(site),
            as_of=self._clock.now(),
            occupancy=occupancy,
            expected_wait_s=expected,
            kiosks_working=working,
            kiosks_total=total,
            counters_serving=serving,
            zones=zones,
            queues=[
                QueueView(
                    zone=z.zone,
                    queue_length=z.queue_length,
                    expected_wait_s=z.expected_wait_s,
                    longest_wait_s=z.longest_wait_s,
                )
                for z in zones
                if z.queue_length is not None
            ],
            devices=[
                _device_view(self.hall, d) for d in sorted(self.hall.devices(site), key=lambda d: d.device)
            ],
            counters=[
                CounterView(counter=c.counter, state=c.state.value, since=c.since, ts=c.ts, source=c.source)
                for c in sorted(self.hall.counter_states(site).values(), key=lambda c: c.counter)
            ],
            waits_by_business=self.business_waits(site),
            cameras=[
                CameraView(
                    camera=c.source,
                    state=c.state.value,
                    stream_ok=c.stream_ok,
                    fps=c.fps,
                    reason=c.reason,
                    ts=c.ts,
                )
                for c in sorted(list(h.cameras.values()), key=lambda c: c.source)
            ],
            gateways=[
                GatewayView(
                    gateway=g.gateway, backlog=g.backlog, sent_at=g.sent_at, received_at=g.received_at
                )
                for g in sorted(list(h.gateways.values()), key=lambda g: g.gateway)
            ],
        )

    # ------------------------------------------------------------------ change notification

    def listen(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call ``callback(site)`` after each committed change; returns an unsubscribe function."""
        return self._listeners.add(callback)

    def notify(self, site: str) -> None:
        for cb in self._listeners.snapshot():
            cb(site)
