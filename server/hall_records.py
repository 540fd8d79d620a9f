"""What the hall state (:mod:`server.hall_state`) holds: one record per hall, device, gateway
and clock problem (a hall's queue tickets: :mod:`server.hall_tickets`), and the answers it
gives (:class:`DeviceNow`, :class:`FaultChange`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from lobbywatch.protocol.enums import DeviceKind, Presence
from lobbywatch.protocol.ingest import Backlog
from lobbywatch.protocol.messages import CameraStatus, CounterState, ZoneState
from server.hall_tickets import HallTickets

DeviceStateName = Literal["online", "offline", "out_of_service", "faulted", "unknown"]
OfflineReason = Literal["will", "shutdown", "heartbeat"]


@dataclass
class DeviceState:
    """What one device last told the server, and when it was last heard from."""

    site: str
    device: str
    vendor: str
    kind: str
    presence: str = Presence.ONLINE.value
    will: bool = False
    offline_at: datetime | None = None
    out_of_service: bool = False
    faults: dict[str, bool] = field(default_factory=dict)  # code -> makes the device unusable
    fault_detail: dict[str, str | None] = field(default_factory=dict)
    last_seen: datetime | None = None
    """Source time of the newest message (shown on pages)."""
    last_heard: datetime | None = None
    """When it was last heard from (source time, never later than the server's clock): the
    start of its heartbeat clock. A device never heard of counts from the hall state's start."""
    heartbeat_s: float | None = None
    """The interval the device promised; else its configured one."""
    model: str | None = None
    firmware: str | None = None
    state: str | None = None
    """The recorded episode's state (what SQL holds), kept by :class:`DeviceTracker`."""
    since: datetime | None = None

    @property
    def is_kiosk(self) -> bool:
        try:
            return DeviceKind(self.kind).is_self_service
        except ValueError:
            return False

    def fault_code(self, state: str) -> str | None:
        """The first unusable fault, for a ``faulted`` episode."""
        if state != "faulted":
            return None
        return next((code for code, unusable in self.faults.items() if unusable), None)


@dataclass(frozen=True, slots=True)
class DeviceNow:
    """A device's state at one moment, by the one definition (:meth:`HallState.device_now`)."""

    state: DeviceStateName
    since: datetime | None
    """When it went offline (for ``offline``), else None."""
    reason: OfflineReason | None
    working: bool
    """Usable by customers: online (or not yet due to announce itself), not out of service,
    no fault that makes it unusable."""


@dataclass(frozen=True, slots=True)
class FaultChange:
    """A fault a device message raised (``raised=True``) or cleared."""

    code: str
    raised: bool
    unusable: bool = True
    severity: str | None = None
    detail: str | None = None


@dataclass
class Gateway:
    """The latest batch of one of the hall's gateways."""

    gateway: str
    backlog: Backlog
    sent_at: datetime
    received_at: datetime


@dataclass
class ClockProblem:
    """The messages of one source the server rejected for their time (reason ``clock: ...``)."""

    count: int
    """Rejected since the server started."""
    reason: str
    """The last rejection's reason."""
    stamped: datetime
    """The last rejected message's own time."""
    rejected_at: datetime
    """When the last one was rejected (the server's clock)."""
    accepted_at: datetime | None = None
    """When a message of the source was last accepted (the server's clock)."""


@dataclass
class Hall:
    """One hall's state. Read it through :class:`HallState`; ingest writes it."""

    site: str
    zones: dict[str, ZoneState] = field(default_factory=dict)
    occupancy: dict[str, float] = field(default_factory=dict)  # zone -> zones[zone].occupancy
    counters: dict[str, CounterState] = field(default_factory=dict)
    """What each counter's terminal last said (states: :mod:`server.counter_states`)."""
    tickets: HallTickets = field(default_factory=HallTickets)
    cameras: dict[str, CameraStatus] = field(default_factory=dict)
    devices: dict[str, DeviceState] = field(default_factory=dict)
    gateways: dict[str, Gateway] = field(default_factory=dict)
    last_batch: datetime | None = None
    catching_up: bool = False
    clock_problems: dict[str, ClockProblem] = field(default_factory=dict)  # source -> its rejections


def camera_blind(status: CameraStatus) -> bool:
    """A camera is blind when it says it is offline or its stream is down."""
    return status.state == Presence.OFFLINE or not status.stream_ok
