"""Protocol v1 messages: one pydantic model per message type.

Every message is one flat JSON object: the envelope fields of :class:`Envelope` plus the
fields of its type. ``type`` selects the model. Unknown fields are rejected, so a typo in a
kiosk's implementation is caught at the first message rather than silently dropped.

Class attributes (not sent) say how a message travels:

* ``DELIVERY`` — ``"event"`` (must never be dropped: faults, waits, status changes) or
  ``"sample"`` (periodic state, superseded by the next one; a full gateway sheds these first).
* ``RETAINED`` — published with the MQTT retain flag (the broker keeps the last one).
* ``DIRECTION`` — ``"up"`` (hall to server) or ``"down"`` (server to hall).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from lobbywatch.protocol.enums import (
    AlertState,
    CounterStatus,
    DeviceCommandKind,
    DeviceEventKind,
    DeviceKind,
    Presence,
    Severity,
    VisitOutcome,
    WaitKind,
    WaitOutcome,
    ZoneKind,
)
from lobbywatch.protocol.envelope import PROTOCOL_VERSION as PROTOCOL_VERSION
from lobbywatch.protocol.envelope import Delivery as Delivery
from lobbywatch.protocol.envelope import Direction as Direction
from lobbywatch.protocol.envelope import Envelope as Envelope
from lobbywatch.protocol.envelope import Strict as _Strict
from lobbywatch.protocol.fields import (
    MAX_SEQ,
    Count,
    FaultCode,
    Identifier,
    Label,
    MessageId,
    Seconds,
    ShortText,
    UtcDateTime,
)
from lobbywatch.protocol.tickets import TicketEvent, WaitBoard


class LocalizedText(_Strict):
    """A text a person reads, in both languages staff use."""

    zh_cn: str = Field(alias="zh-CN", min_length=1, max_length=1000, description="Chinese.")
    en: str = Field(min_length=1, max_length=1000, description="English.")


# --------------------------------------------------------------------------- cameras


class LongWait(_Strict):
    """One customer (visit) in a zone whose wait has passed the site's care-visit limit."""

    visit: Identifier = Field(description="The camera's opaque id of the visit.")
    wait_s: Seconds = Field(description="How long they have waited so far, in seconds.")
    at: tuple[float, float] | None = Field(
        default=None, description="Where they stand: normalised (x, y) in the camera image, 0..1."
    )


class ZoneState(Envelope):
    """Current state of one zone as seen by one camera. Retained; at most 1/s per zone."""

    type: Literal["zone_state"] = "zone_state"
    zone: Identifier = Field(description="Zone id from the site configuration.")
    kind: ZoneKind = Field(description="Zone kind.")
    occupancy: float = Field(ge=0, le=10_000, description="Smoothed number of people in the zone.")
    count: Count = Field(description="People counted in the zone in the latest processed frame.")
    queue_length: Count | None = Field(
        default=None, description="People standing in line (queue zones only)."
    )
    longest_wait_s: Seconds | None = Field(
        default=None,
        description=(
            "Longest current wait (since joining the first queue/waiting zone) of the customers "
            "whose current zone this is, in seconds; in a counter zone, the longest service under way."
        ),
    )
    longest_wait_at: tuple[float, float] | None = Field(
        default=None,
        description="Where the longest waiter stands: normalised (x, y) in the camera image, 0..1.",
    )
    expected_wait_s: Seconds | None = Field(
        default=None, description="Expected wait for someone joining now (queue/waiting zones)."
    )
    waits_over_limit: Count = Field(
        default=0, description="Customers in the zone whose wait is past the site's wait limit."
    )
    loitering: Count = Field(
        default=0, description="People loitering (entrance/experience zones) past the threshold."
    )
    entered_total: int = Field(
        ge=0, le=MAX_SEQ, description="Entries into the zone since the source's epoch began."
    )
    exited_total: int = Field(
        ge=0, le=MAX_SEQ, description="Exits from the zone since the source's epoch began."
    )
    arrivals_total: int | None = Field(
        default=None,
        ge=0,
        le=MAX_SEQ,
        description=(
            "Entrance zones only: people who arrived through this zone since the source's epoch "
            "began (a track that starts in the entrance; never one entering it from inside the hall)."
        ),
    )

    long_waits: list[LongWait] | None = Field(
        default=None,
        max_length=200,
        description=(
            "Customers in the zone (their visit's current zone) waiting past the care-visit "
            "limit, one entry per visit; absent from cameras that do not track visits."
        ),
    )
    waiting: list[LongWait] | None = Field(
        default=None,
        max_length=200,
        description=(
            "Every customer whose visit's current zone this is and who is waiting now (past the "
            "limit or not), longest first: the server joins visits across cameras by where they "
            'stand (docs/vision.md, "Floor plan and handover"); absent from cameras that do not '
            "track visits."
        ),
    )

    DELIVERY: ClassVar[Delivery] = "sample"
    RETAINED: ClassVar[bool] = True

    @model_validator(mode="after")
    def _kind_specific_fields(self) -> ZoneState:
        if self.queue_length is not None and self.kind not in (ZoneKind.QUEUE, ZoneKind.WAITING):
            raise ValueError("queue_length is only sent for queue and waiting zones")
        if self.longest_wait_at is not None and not all(0.0 <= c <= 1.0 for c in self.longest_wait_at):
            raise ValueError("longest_wait_at must be normalised to 0..1")
        if self.arrivals_total is not None and self.kind != ZoneKind.ENTRANCE:
            raise ValueError("arrivals_total is only sent for entrance zones")
        for name, waits in (("long_waits", self.long_waits), ("waiting", self.waiting)):
            for w in waits or ():
                if w.at is not None and not all(0.0 <= c <= 1.0 for c in w.at):
                    raise ValueError(f"{name}[].at must be normalised to 0..1")
        return self


class CameraStatus(Envelope):
    """Health of a camera pipeline. Retained; also set as the camera's MQTT last-will."""

    type: Literal["camera_status"] = "camera_status"
    state: Presence = Field(description="online, or offline (last-will or clean shutdown).")
    will: bool = Field(default=False, description="True when this is the last-will message.")
    reason: ShortText | None = Field(default=None, description="Why the camera is offline.")
    stream_ok: bool = Field(default=True, description="False while the video stream is lost.")
    fps: float | None = Field(default=None, ge=0, le=1000, description="Frames processed per s.")
    frames_read: int = Field(default=0, ge=0, le=MAX_SEQ, description="Frames read since start.")
    frames_processed: int = Field(default=0, ge=0, le=MAX_SEQ, description="Frames processed.")
    frames_dropped: int = Field(default=0, ge=0, le=MAX_SEQ, description="Frames skipped.")

    RETAINED: ClassVar[bool] = True

    @property
    def is_will(self) -> bool:
        return self.will


class WaitRecord(Envelope):
    """One completed, anonymous dwell: a wait in a queue/waiting zone or a service at a counter."""

    type: Literal["wait_record"] = "wait_record"
    zone: Identifier = Field(description="Zone the person dwelt in.")
    kind: WaitKind = Field(description="wait (queue/waiting) or service (counter).")
    zone_kind: ZoneKind = Field(description="Kind of the zone.")
    started: UtcDateTime = Field(description="When the dwell began.")
    ended: UtcDateTime = Field(description="When it ended (exit, or last seen for lost tracks).")
    duration_s: Seconds = Field(description="ended - started, in seconds.")
    outcome: WaitOutcome = Field(description="exited, or lost (track timed out).")

    @model_validator(mode="after")
    def _consistent(self) -> WaitRecord:
        if self.ended < self.started:
            raise ValueError("ended is before started")
        span = (self.ended - self.started).total_seconds()
        if abs(span - self.duration_s) > 1.0:
            raise ValueError(f"duration_s {self.duration_s} differs from ended - started ({span})")
        return self


class VisitPoint(_Strict):
    """Where a visit's person was at one moment (first and last sighting, zone entries and exits)."""

    at: UtcDateTime = Field(description="When they were there.")
    image: tuple[float, float] = Field(description="Normalised (x, y) in the camera image, 0..1.")
    floor: tuple[float, float] | None = Field(
        default=None,
        description=(
            "The same point on the hall's floor plan, metres: only from a camera with a "
            'ground-plane calibration (docs/vision.md, "Floor plan and handover").'
        ),
    )


class VisitRecord(Envelope):
    """One completed, anonymous visit: a person's path through the part of the hall one camera
    sees, from arrival to departure (docs/vision.md, "Visits"). No image, no identity: the
    visit id is opaque and means nothing outside the camera that made it."""

    type: Literal["visit"] = "visit"
    visit: Identifier = Field(description="The camera's opaque id of the visit.")
    arrived: UtcDateTime = Field(description="When the person was first seen.")
    left: UtcDateTime = Field(description="When the person was last seen.")
    zones: list[Identifier] = Field(
        default_factory=list, max_length=64, description="Zones passed through, in order."
    )
    wait_zone: Identifier | None = Field(default=None, description="The first queue/waiting zone joined.")
    wait_started: UtcDateTime | None = Field(default=None, description="When the wait began.")
    wait_s: Seconds | None = Field(
        default=None, description="From joining the first queue/waiting zone to service (or departure)."
    )
    service_zone: Identifier | None = Field(default=None, description="The counter zone served at.")
    service_started: UtcDateTime | None = Field(default=None, description="When service began.")
    service_s: Seconds | None = Field(default=None, description="Time at the counter, seconds.")
    outcome: VisitOutcome = Field(description="served, walked_out, passed or lost.")
    path: list[VisitPoint] = Field(
        default_factory=list,
        max_length=64,
        description=(
            "Where the person was, in time order: first seen, each confirmed zone entry and exit, "
            "last seen (the first and the latest 63 points); the server joins one customer's "
            "visits across cameras by it. Absent from older cameras."
        ),
    )

    @model_validator(mode="after")
    def _consistent(self) -> VisitRecord:
        if self.left < self.arrived:
            raise ValueError("left is before arrived")
        if (self.wait_started is None) != (self.wait_s is None):
            raise ValueError("wait_started and wait_s come together")
        if (self.service_started is not None) != (self.outcome == VisitOutcome.SERVED):
            raise ValueError("service_started is set exactly when the outcome is served")
        return self


# --------------------------------------------------------------------------- devices


class DeviceInfo(_Strict):
    """Metadata a device announces in its birth (online) status."""

    kind: DeviceKind = Field(description="Device kind.")
    vendor: Label = Field(description="Maintenance vendor (or manufacturer) id or name.")
    model: Label = Field(description="Hardware model.")
    firmware: Label | None = Field(default=None, description="Firmware/software version.")
    capabilities: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list, max_length=32, description="What the device offers (top_up, ...)."
    )


class DeviceStatus(Envelope):
    """Retained status of a device; the birth message (online) and the last-will (offline)."""

    type: Literal["device_status"] = "device_status"
    state: Presence = Field(description="online, or offline (last-will or clean shutdown).")
    will: bool = Field(default=False, description="True when this is the last-will message.")
    out_of_service: bool = Field(default=False, description="Out-of-service notice posted.")
    faults: list[FaultCode] = Field(
        default_factory=list, max_length=64, description="Fault codes active now."
    )
    info: DeviceInfo | None = Field(default=None, description="Device metadata; sent in the birth message.")
    heartbeat_s: float | None = Field(
        default=None, gt=0, le=3600, description="Heartbeat interval the device promises."
    )

    RETAINED: ClassVar[bool] = True

    @property
    def is_will(self) -> bool:
        return self.will


class Vitals(_Strict):
    cpu_pct: float | None = Field(default=None, ge=0, le=100, description="CPU use, %.")
    mem_pct: float | None = Field(default=None, ge=0, le=100, description="Memory use, %.")
    disk_free_pct: float | None = Field(default=None, ge=0, le=100, description="Free disk, %.")
    temperature_c: float | None = Field(default=None, ge=-50, le=150, description="Board temp.")
    outbox_backlog: int | None = Field(default=None, ge=0, description="Unsent local messages.")


class DeviceHeartbeat(Envelope):
    """Periodic I-am-alive from a device, with a few vitals."""

    type: Literal["device_heartbeat"] = "device_heartbeat"
    uptime_s: float = Field(ge=0, le=10 * 365 * 86400, description="Seconds since agent start.")
    interval_s: float = Field(gt=0, le=3600, description="Seconds until the next heartbeat.")
    vitals: Vitals = Field(default_factory=Vitals, description="Health readings.")

    DELIVERY: ClassVar[Delivery] = "sample"


class DeviceEvent(Envelope):
    """A fault raised or cleared, or the out-of-service notice switched on or off."""

    type: Literal["device_event"] = "device_event"
    event: DeviceEventKind = Field(description="What happened.")
    code: FaultCode | None = Field(default=None, description="Fault code (required for fault events).")
    severity: Severity | None = Field(default=None, description="Severity of the fault.")
    unusable: bool | None = Field(
        default=None, description="Whether the fault makes the device unusable for customers."
    )
    by: Literal["fault", "hand", "remote"] | None = Field(
        default=None, description="For out-of-service events: set by a fault, by hand or remotely."
    )
    detail: ShortText | None = Field(default=None, description="Free text from the device.")

    @model_validator(mode="after")
    def _code_for_faults(self) -> DeviceEvent:
        is_fault = self.event in (DeviceEventKind.FAULT_RAISED, DeviceEventKind.FAULT_CLEARED)
        if is_fault and self.code is None:
            raise ValueError(f"code is required for {self.event.value} events")
        return self


class CounterState(Envelope):
    """State of a staffed counter, from its counter terminal. Retained."""

    type: Literal["counter_state"] = "counter_state"
    counter: Identifier = Field(description="Counter id from the site configuration.")
    state: CounterStatus = Field(description="serving, standby, learning or away.")
    since: UtcDateTime | None = Field(default=None, description="When this state began.")

    RETAINED: ClassVar[bool] = True


# --------------------------------------------------------------------------- downlink


class AlertNotice(Envelope):
    """An alert sent down to the hall (in-hall displays, announcements)."""

    type: Literal["alert"] = "alert"
    alert_id: MessageId = Field(description="Stable id of the alert (same for its updates).")
    kind: Identifier = Field(description="Rule that raised it (crowding, long_wait, ...).")
    severity: Severity = Field(description="Severity.")
    state: AlertState = Field(description="firing, acknowledged or resolved.")
    title: LocalizedText = Field(description="Short title.")
    body: LocalizedText = Field(description="What happened and what to do.")
    zone: Identifier | None = Field(default=None, description="Zone concerned, if any.")
    device: Identifier | None = Field(default=None, description="Device concerned, if any.")

    DIRECTION: ClassVar[Direction] = "down"


class DeviceCommand(Envelope):
    """A command for one device, on that device's own downlink topic."""

    type: Literal["device_command"] = "device_command"
    device: Identifier = Field(description="Target device.")
    command: DeviceCommandKind = Field(description="What to do.")
    detail: ShortText | None = Field(default=None, description="Reason, shown in the device log.")

    DIRECTION: ClassVar[Direction] = "down"


class CounterStateSet(Envelope):
    """A counter's state as staff set it on the counter display, for the counter's terminal
    and the hall's ticket system (the state a terminal reports is ``counter_state``). Sent by
    the server through the hall's gateway; retained, one topic per counter. A terminal takes
    it when its ``ts`` is later than its own last state change, and reports the state it then
    shows as its ``counter_state``."""

    type: Literal["counter_state_set"] = "counter_state_set"
    counter: Identifier = Field(description="Counter id from the site configuration.")
    state: CounterStatus = Field(description="serving, standby, learning or away.")
    since: UtcDateTime = Field(description="When staff set it (the server's clock).")

    DIRECTION: ClassVar[Direction] = "down"
    RETAINED: ClassVar[bool] = True


class Receipt(Envelope):
    """What the gateway has made durable of one source's stream, on that source's receipt topic.

    Everything of ``stream_epoch`` with a ``seq`` up to ``committed_seq`` is in the gateway's
    outbox (a will, which repeats its birth's ``seq``, never counts). A source that honours
    receipts keeps each message until a receipt covers it and sends again what is not covered
    after every connect, and when ``resend`` asks it to. Sent by the gateway (``source`` is
    the gateway id, ``epoch``/``seq`` its own numbering); retained.
    """

    type: Literal["receipt"] = "receipt"
    stream_source: Identifier = Field(description="The source whose stream this receipt covers.")
    stream_epoch: int = Field(ge=0, le=MAX_SEQ, description="The epoch of that stream it covers.")
    committed_seq: int = Field(
        ge=-1,
        le=MAX_SEQ,
        description=(
            "Every message of stream_epoch with a seq up to this one is committed by the "
            "gateway (-1: none yet)."
        ),
    )
    resend: bool = Field(
        default=False,
        description=(
            "True when the gateway asks the source to send again, lowest seq first, every "
            "message it still keeps above committed_seq (after the gateway reconnected, or "
            "when it saw a gap). A copy received on subscribing (MQTT retain flag set) asks nothing."
        ),
    )

    DIRECTION: ClassVar[Direction] = "down"
    RETAINED: ClassVar[bool] = True


Message = Annotated[
    ZoneState
    | CameraStatus
    | WaitRecord
    | VisitRecord
    | DeviceStatus
    | DeviceHeartbeat
    | DeviceEvent
    | CounterState
    | AlertNotice
    | DeviceCommand
    | CounterStateSet
    | Receipt
    | TicketEvent
    | WaitBoard,
    Field(discriminator="type"),
]

MESSAGE_TYPES: dict[str, type[Envelope]] = {
    cls.model_fields["type"].default: cls
    for cls in (
        ZoneState,
        CameraStatus,
        WaitRecord,
        VisitRecord,
        DeviceStatus,
        DeviceHeartbeat,
        DeviceEvent,
        CounterState,
        AlertNotice,
        DeviceCommand,
        CounterStateSet,
        Receipt,
        TicketEvent,
        WaitBoard,
    )
}
