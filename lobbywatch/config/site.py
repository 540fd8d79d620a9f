"""The hall (site) configuration: one YAML file per hall, read by every hall-side component.

One pydantic model per concern; unknown keys are rejected and every field has a
description and bounds. Cross-references (a camera zone naming a zone that does not
exist, duplicate ids, ...) are checked by :func:`check_references` after the shape is
valid, so each error still names its own path.
"""

from __future__ import annotations

from datetime import time
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from lobbywatch.config.business import BusinessType
from lobbywatch.config.counting import CountingConfig
from lobbywatch.config.floor import FloorCalibration
from lobbywatch.config.loader import Loc, load_yaml_model
from lobbywatch.config.notify import NotificationsConfig
from lobbywatch.config.staff import StaffConfig
from lobbywatch.config.tickets import TicketIntakeConfig
from lobbywatch.config.vendors import ServiceLevels
from lobbywatch.protocol.enums import DeviceKind, ZoneKind
from lobbywatch.protocol.fields import Identifier


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _polygon(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    if len(points) < 3:
        raise ValueError(f"needs at least 3 points, got {len(points)}")
    if len(points) > 64:
        raise ValueError(f"has {len(points)} points; at most 64 are allowed")
    if any(x < 0 or y < 0 for x, y in points):
        raise ValueError("pixel coordinates cannot be negative")
    area = 0.0
    for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1], strict=True):
        area += x1 * y2 - x2 * y1
    if abs(area) < 1e-6:
        raise ValueError("has zero area (are the points on one line?)")
    return points


Polygon = Annotated[
    list[tuple[float, float]],
    AfterValidator(_polygon),
    Field(description="Pixel polygon [[x, y], ...] in the camera image, at least 3 points."),
]


def _timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {name!r} (use an IANA name like Asia/Shanghai)") from None
    return name


class LocalizedName(_Model):
    en: str = Field(min_length=1, max_length=120, description="English name.")
    zh_cn: str = Field(alias="zh-CN", min_length=1, max_length=120, description="Chinese name.")


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @property
    def number(self) -> int:
        """Monday is 0, as in :meth:`datetime.weekday`."""
        return list(Weekday).index(self)


class OpeningPeriod(_Model):
    days: list[Weekday] = Field(min_length=1, max_length=7, description="Weekdays, e.g. [mon, tue].")
    open: time = Field(description="Opening time, local (HH:MM).")
    close: time = Field(description="Closing time, local (HH:MM).")

    @model_validator(mode="after")
    def _order(self) -> OpeningPeriod:
        if self.close <= self.open:
            raise ValueError(f"close {self.close:%H:%M} must be after open {self.open:%H:%M}")
        return self


class BrokerConfig(_Model):
    """How hall components reach the hall's MQTT broker."""

    host: str = Field(default="127.0.0.1", min_length=1, description="Broker host name or IP.")
    port: int = Field(default=1883, ge=1, le=65535, description="Broker port.")
    tls: bool = Field(default=False, description="Connect with TLS.")
    ca_file: Path | None = Field(default=None, description="CA certificate for TLS.")
    username: str | None = Field(default=None, max_length=128, description="MQTT user name.")
    password_file: Path | None = Field(
        default=None, description="File holding the MQTT password (never the password itself)."
    )
    keepalive_s: int = Field(default=30, ge=5, le=600, description="MQTT keep-alive, seconds.")


class ZoneConfig(_Model):
    id: Identifier = Field(description="Zone id, unique in the hall.")
    kind: ZoneKind = Field(description="What happens in the zone.")
    name: LocalizedName | None = Field(default=None, description="Name shown to staff.")
    capacity: int | None = Field(
        default=None, ge=1, le=10_000, description="Comfortable maximum occupancy (crowding)."
    )


class CameraZone(_Model):
    zone: Identifier = Field(description="Id of a zone from the 'zones' list.")
    polygon: Polygon


#: Camera keys of hall files before the ``counting`` block, and where each went.
MOVED_TO_COUNTING = {
    "imgsz": "counting.imgsz",
    "confidence": "counting.confidence",
    "iou": "counting.merge.iou",
    "person_classes": "counting.person_classes",
    "tiling": "counting.slicing (mode: grid for fixed tiles; the default is adaptive)",
}


class CameraConfig(_Model):
    id: Identifier = Field(description="Camera id, unique in the hall.")
    source: str = Field(
        min_length=1,
        max_length=1024,
        description="rtsp:// or http(s):// URL, a USB camera index ('0'), or a video file path.",
    )
    loop: bool = Field(default=False, description="Loop a video file (demos).")
    model: Path | None = Field(
        default=None, description="Detector weights; default: the bundled person detector."
    )
    counting: CountingConfig = Field(
        default_factory=CountingConfig,
        description="How people are detected and counted (detector, slicing, merge, scale).",
    )
    roi: Polygon | None = Field(default=None, description="Count only people inside this region.")
    entry_frames: int = Field(
        default=3, ge=1, le=100, description="Consecutive frames inside before a person enters."
    )
    exit_frames: int = Field(
        default=5, ge=1, le=300, description="Consecutive frames outside before a person exits."
    )
    lost_track_timeout_s: float = Field(
        default=10, ge=1, le=600, description="Close the dwell of a track unseen for this long."
    )
    max_fps: float | None = Field(
        default=None, gt=0, le=120, description="Process at most this many frames per second."
    )
    zones: list[CameraZone] = Field(min_length=1, description="Zones this camera sees.")
    staff: StaffConfig | None = Field(default=None, description="Staff positions and rules.")
    floor: FloorCalibration | None = Field(default=None, description="Ground-plane calibration (metres).")

    @model_validator(mode="before")
    @classmethod
    def _moved_detector_keys(cls, data: object) -> object:
        """Hall files written before the ``counting`` block: say where each key went."""
        if isinstance(data, dict):
            moved = [key for key in MOVED_TO_COUNTING if key in data]
            if moved:
                where = "; ".join(f"{key} -> {MOVED_TO_COUNTING[key]}" for key in moved)
                raise ValueError(
                    f"camera keys moved into its 'counting' block (docs/vision.md, \"Counting\"): {where} / "
                    f"这些摄像头参数已移入 counting 段：{where}"
                )
        return data


class DeviceConfig(_Model):
    id: Identifier = Field(description="Device id, unique in the hall.")
    kind: DeviceKind = Field(description="Device kind.")
    vendor: Identifier = Field(description="Maintenance vendor id (who repairs it).")
    model: str = Field(min_length=1, max_length=120, description="Hardware model.")
    zone: Identifier | None = Field(default=None, description="Zone it stands in.")
    counter: Identifier | None = Field(
        default=None, description="For counter terminals: the counter it reports for."
    )
    heartbeat_s: float = Field(default=30, ge=1, le=3600, description="Heartbeat interval, s.")


class CounterConfig(_Model):
    id: Identifier = Field(description="Counter id, unique in the hall.")
    zone: Identifier = Field(description="The counter (service) zone in front of it.")
    queue: Identifier | None = Field(default=None, description="The queue zone that feeds it.")
    name: LocalizedName | None = Field(default=None, description="Name shown to staff.")
    fast_lane: bool = Field(default=False, description="Fast lane for simple jobs (busy hours).")


class Thresholds(_Model):
    """The floor rules' numbers. Defaults are those of the operating rules (DOMAIN.md)."""

    max_wait_min: float = Field(default=10, gt=0, le=240, description="Longest acceptable wait.")
    care_visit_min: float = Field(
        default=10, gt=0, le=240, description="Wait after which a guide must visit the customer."
    )
    transaction_min: float = Field(default=3, gt=0, le=120, description="Single transaction limit.")
    new_subscription_min: float = Field(default=8, gt=0, le=120, description="New subscription.")
    sim_replacement_min: float = Field(default=3, gt=0, le=120, description="SIM replacement.")
    queue_no_upsell: int = Field(
        default=3, ge=1, le=100, description="Line length at which counters must stop upselling."
    )
    queue_no_upsell_clear: int = Field(
        default=2, ge=0, le=100, description="Line length at or below which the signal clears."
    )
    min_working_kiosks: int = Field(default=2, ge=0, le=100, description="Self-service minimum.")
    loiter_min: float = Field(
        default=5, gt=0, le=240, description="Minutes in entrance/experience before loitering."
    )
    crowding_hold_s: float = Field(
        default=60, ge=0, le=3600, description="Occupancy must stay above capacity this long."
    )
    crowding_clear_ratio: float = Field(
        default=0.9, gt=0, le=1, description="Crowding clears below this share of capacity."
    )
    hall_capacity: int | None = Field(
        default=None, ge=1, le=100_000, description="Whole-hall capacity (crowding)."
    )
    surge_arrivals_per_10min: int = Field(
        default=30, ge=1, le=10_000, description="Arrivals in 10 minutes that count as a surge."
    )
    peak_lead_min: float = Field(
        default=30, ge=0, le=240, description="Warn this long before a forecast peak."
    )
    device_offline_grace_s: float = Field(
        default=90, ge=0, le=3600, description="Heartbeat silence before a device is offline."
    )
    camera_blind_hold_s: float = Field(
        default=30,
        ge=0,
        le=3600,
        description=(
            "A camera's stream must be down this long before the camera is blind (a camera "
            "starting or reconnecting its stream is down for seconds: not worth a page)."
        ),
    )
    device_offline_grace_s_by_kind: dict[DeviceKind, Annotated[float, Field(ge=0, le=3600)]] = Field(
        default_factory=dict,
        description=(
            "Heartbeat silence before a device of this kind is offline, s (e.g. counter terminals "
            "that sleep between customers); kinds not listed use device_offline_grace_s."
        ),
    )

    def offline_grace_s(self, kind: str) -> float:
        """How long a device of ``kind`` may be silent past its heartbeat before it is offline."""
        try:
            return self.device_offline_grace_s_by_kind.get(DeviceKind(kind), self.device_offline_grace_s)
        except ValueError:  # a kind this version does not know: the hall's default
            return self.device_offline_grace_s

    @model_validator(mode="after")
    def _hysteresis(self) -> Thresholds:
        if self.queue_no_upsell_clear >= self.queue_no_upsell:
            raise ValueError(
                f"queue_no_upsell_clear ({self.queue_no_upsell_clear}) must be below "
                f"queue_no_upsell ({self.queue_no_upsell}), or the signal would flap"
            )
        return self


class GatewayConfig(_Model):
    """The hall gateway: where it keeps its outbox and where it forwards to."""

    id: Identifier = Field(default="gw", description="Gateway id.")
    server_url: str = Field(
        default="http://127.0.0.1:8000",
        pattern=r"^https?://",
        description="Base URL of the central server.",
    )
    token_file: Path | None = Field(default=None, description="File holding the gateway token.")
    outbox: Path = Field(default=Path("gateway-outbox.sqlite3"), description="Outbox file.")
    max_disk_mb: float = Field(default=512, ge=1, le=1_000_000, description="Outbox size cap.")
    batch_max: int = Field(default=500, ge=1, le=5000, description="Messages per batch, at most.")
    batch_age_s: float = Field(default=0.2, ge=0, le=60, description="Send a partial batch after.")
    health_port: int = Field(default=9108, ge=0, le=65535, description="/metrics port; 0 = off.")
    request_timeout_s: float = Field(
        default=10, gt=0, le=300, description="Give up on an ingest request after this long."
    )
    retry_initial_s: float = Field(
        default=0.5, gt=0, le=600, description="First retry delay after a failed batch (doubles)."
    )
    retry_max_s: float = Field(
        default=60, gt=0, le=3600, description="Longest retry delay between failed batches."
    )
    server_ca_file: Path | None = Field(
        default=None, description="CA certificate(s) to trust for an https server_url (default: system CAs)."
    )
    tickets: TicketIntakeConfig = Field(default_factory=TicketIntakeConfig, description="Ticket endpoint.")
    wall_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="HTTP port serving the wall page for in-hall displays (docs/pages.md); 0 = off.",
    )
    wall_host: str = Field(default="0.0.0.0", min_length=1, description="Address the wall port binds to.")
    downlink_wait_s: float = Field(
        default=25,
        ge=1,
        le=60,
        description=(
            "How long the server holds each downlink poll open (alerts and commands for the hall); "
            "keep it under the idle timeout of any proxy on the way."
        ),
    )


class SiteConfig(_Model):
    """One hall."""

    config_version: Literal[1] = Field(default=1, description="Version of this file format.")
    site: Identifier = Field(description="Site (hall) id, used in every MQTT topic.")
    name: LocalizedName = Field(description="Hall name.")
    kind: Literal["telecom", "bank", "other"] = Field(default="telecom", description="Hall kind.")
    timezone: Annotated[str, AfterValidator(_timezone)] = Field(
        default="Asia/Shanghai", description="IANA time zone of the hall."
    )
    opening_hours: list[OpeningPeriod] = Field(
        min_length=1, max_length=14, description="When the hall is open."
    )
    broker: BrokerConfig = Field(default_factory=BrokerConfig, description="Hall MQTT broker.")
    zones: list[ZoneConfig] = Field(min_length=1, max_length=200, description="Zones.")
    cameras: list[CameraConfig] = Field(default_factory=list, max_length=64, description="Cameras.")
    devices: list[DeviceConfig] = Field(
        default_factory=list, max_length=500, description="Kiosks and counter terminals."
    )
    counters: list[CounterConfig] = Field(default_factory=list, max_length=200, description="Counters.")
    thresholds: Thresholds = Field(default_factory=Thresholds, description="Floor-rule numbers.")
    business: dict[Identifier, BusinessType] = Field(
        default_factory=dict, description="Ticket business types."
    )
    notifications: NotificationsConfig = Field(
        default_factory=NotificationsConfig, description="Where alerts go."
    )
    gateway: GatewayConfig = Field(default_factory=GatewayConfig, description="Hall gateway.")
    service_levels: ServiceLevels = Field(default_factory=ServiceLevels, description="Vendor targets.")

    # Lookups by id, indexed once (the model is frozen): rules look zones up per message.
    @cached_property
    def _zones_by_id(self) -> dict[str, ZoneConfig]:
        return {z.id: z for z in self.zones}

    @cached_property
    def _cameras_by_id(self) -> dict[str, CameraConfig]:
        return {c.id: c for c in self.cameras}

    @cached_property
    def _devices_by_id(self) -> dict[str, DeviceConfig]:
        return {d.id: d for d in self.devices}

    @cached_property
    def _counters_by_zone(self) -> dict[str, list[str]]:
        by_zone: dict[str, list[str]] = {}
        for c in self.counters:
            by_zone.setdefault(c.zone, []).append(c.id)
        return by_zone

    @cached_property
    def _counters_by_queue(self) -> dict[str, list[str]]:
        by_queue: dict[str, list[str]] = {}
        for c in self.counters:
            if c.queue is not None:
                by_queue.setdefault(c.queue, []).append(c.id)
        return by_queue

    def counters_at(self, zone_id: str) -> list[str]:
        """Ids of the counters in this counter zone, in config order (none: empty)."""
        return list(self._counters_by_zone.get(zone_id, ()))

    def counters_serving(self, queue_id: str) -> list[str]:
        """Ids of the counters this queue zone feeds, in config order (none: empty)."""
        return list(self._counters_by_queue.get(queue_id, ()))

    def zone(self, zone_id: str) -> ZoneConfig:
        """The zone with this id; ``KeyError`` if there is none."""
        return self._zones_by_id[zone_id]

    def camera(self, camera_id: str) -> CameraConfig:
        """The camera with this id; ``KeyError`` if there is none."""
        return self._cameras_by_id[camera_id]

    def device(self, device_id: str) -> DeviceConfig:
        """The device with this id; ``KeyError`` if there is none."""
        return self._devices_by_id[device_id]


def _duplicates(section: str, ids: list[str]) -> list[tuple[Loc, str]]:
    seen: dict[str, int] = {}
    out: list[tuple[Loc, str]] = []
    for i, ident in enumerate(ids):
        if ident in seen:
            out.append(((section, i, "id"), f"duplicate id {ident!r} (also {section}[{seen[ident]}])"))
        else:
            seen[ident] = i
    return out


def check_references(cfg: SiteConfig) -> list[tuple[Loc, str]]:
    """Problems that span sections: duplicate ids and references to things not defined."""
    problems: list[tuple[Loc, str]] = []
    for section, items in (
        ("zones", cfg.zones),
        ("cameras", cfg.cameras),
        ("devices", cfg.devices),
        ("counters", cfg.counters),
    ):
        problems += _duplicates(section, [item.id for item in items])
    zones = {z.id: z for z in cfg.zones}
    counters = {c.id for c in cfg.counters}

    def zone_ref(loc: Loc, zone_id: str, kinds: tuple[ZoneKind, ...] = ()) -> None:
        zone = zones.get(zone_id)
        if zone is None:
            problems.append((loc, f"unknown zone {zone_id!r}; zones are: {', '.join(zones)}"))
        elif kinds and zone.kind not in kinds:
            wanted = " or ".join(k.value for k in kinds)
            problems.append((loc, f"zone {zone_id!r} is a {zone.kind.value} zone, not {wanted}"))

    for ci, cam in enumerate(cfg.cameras):
        seen_zones: set[str] = set()
        for zi, cz in enumerate(cam.zones):
            zone_ref(("cameras", ci, "zones", zi, "zone"), cz.zone)
            if cz.zone in seen_zones:
                problems.append((("cameras", ci, "zones", zi, "zone"), f"zone {cz.zone!r} listed twice"))
            seen_zones.add(cz.zone)
    for di, dev in enumerate(cfg.devices):
        if dev.zone is not None:
            zone_ref(("devices", di, "zone"), dev.zone)
        if dev.counter is not None and dev.counter not in counters:
            problems.append((("devices", di, "counter"), f"unknown counter {dev.counter!r}"))
        if dev.kind == DeviceKind.COUNTER_TERMINAL and dev.counter is None:
            problems.append((("devices", di, "counter"), "a counter_terminal must name its counter"))
    for ci, counter in enumerate(cfg.counters):
        zone_ref(("counters", ci, "zone"), counter.zone, (ZoneKind.COUNTER,))
        if counter.queue is not None:
            zone_ref(("counters", ci, "queue"), counter.queue, (ZoneKind.QUEUE, ZoneKind.WAITING))
    return problems


def load_site_config(path: Path) -> SiteConfig:
    """Load and fully check a hall configuration; raises ``ConfigError`` with located issues."""
    return load_yaml_model(path, SiteConfig, check_references)
