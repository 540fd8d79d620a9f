"""Scenarios of the lobby simulator: data, not code paths. :class:`Scenario` holds every knob
of the virtual hall (the simulator reads nothing else); :data:`SCENARIOS` has the built-in
ones and :func:`load_scenario` reads a YAML file. Times ``at_min`` are minutes after the
start of the simulation. See ``docs/simulator.md``, "Scenarios".
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lobbywatch.config.loader import load_yaml_model
from lobbywatch.protocol.enums import CounterStatus, ZoneKind


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Surge(_Model):
    """A burst of arrivals (a bus of tourists, a promotion, the lunch break of an office)."""

    at_min: float = Field(ge=0, le=24 * 60, description="Start, minutes after the simulation start.")
    duration_min: float = Field(gt=0, le=240, description="How long the surge lasts, minutes.")
    multiplier: float = Field(
        default=2.0, ge=1, le=50, description="Arrival rate multiplier during the surge."
    )
    min_surge_ratio: float = Field(
        default=0.0,
        ge=0,
        le=10,
        description=(
            "Arrival rate at least this multiple of the site's surge threshold "
            "(thresholds.surge_arrivals_per_10min), so a peak-time alert is sure to fire; 0 = off."
        ),
    )


class Gathering(_Model):
    """A crowd gathering in one zone (a product launch at the demo tables, a group visit)."""

    at_min: float = Field(ge=0, le=24 * 60, description="When the first of them arrives, minutes.")
    duration_min: float = Field(gt=0, le=240, description="How long they stay, minutes.")
    zone_kinds: list[ZoneKind] = Field(
        default_factory=lambda: [ZoneKind.EXPERIENCE, ZoneKind.SELF_SERVICE, ZoneKind.WAITING],
        min_length=1,
        description="Where they gather: the first zone of the first kind the hall has.",
    )
    over_capacity: int = Field(
        default=4, ge=0, le=1000, description="How many more people than the zone's capacity come."
    )
    arrive_over_min: float = Field(default=2.0, ge=0, le=60, description="They arrive over this long.")


class JobType(_Model):
    """A kind of counter job with its lognormal service time."""

    name: str = Field(min_length=1, max_length=40, description="Job name (transaction, ...).")
    share: float = Field(gt=0, le=1, description="Relative share among counter customers.")
    mean_min: float = Field(gt=0, le=120, description="Mean service time, minutes.")
    sigma: float = Field(default=0.4, ge=0, le=2, description="Lognormal shape (log-space sd).")
    simple: bool = Field(default=False, description="Simple job: a fast lane prefers these.")


class Triage(_Model):
    """Where the guide sends arrivals (relative shares, normalised by the simulator)."""

    consult: float = Field(default=0.15, ge=0, le=1, description="To the guide desk.")
    self_service: float = Field(default=0.22, ge=0, le=1, description="To the kiosks.")
    queue: float = Field(default=0.58, ge=0, le=1, description="To a counter queue / waiting area.")
    loiter: float = Field(default=0.05, ge=0, le=1, description="Wander in entrance/experience.")

    @model_validator(mode="after")
    def _some(self) -> Triage:
        if self.consult + self.self_service + self.queue + self.loiter <= 0:
            raise ValueError("at least one triage share must be positive")
        return self


class CounterEvent(_Model):
    """A scheduled staff interruption at one counter (it starts once the current customer leaves)."""

    at_min: float = Field(ge=0, le=24 * 60, description="When, minutes after the simulation start.")
    counter: int = Field(
        ge=0, le=199, description="Counter index in the site's counter list (modulo its length)."
    )
    state: Literal[CounterStatus.AWAY, CounterStatus.LEARNING] = Field(
        description="away (staff left the counter) or learning (training, not serving)."
    )
    duration_min: float = Field(gt=0, le=480, description="How long, minutes.")


class StaffBreaks(_Model):
    """Random interruptions of each counter (Poisson, exponential durations)."""

    away_per_hour: float = Field(default=0.5, ge=0, le=20, description="Away breaks per hour.")
    away_mean_min: float = Field(default=4.0, gt=0, le=120, description="Mean away break, min.")
    learning_per_hour: float = Field(default=0.15, ge=0, le=20, description="Learning per hour.")
    learning_mean_min: float = Field(default=8.0, gt=0, le=240, description="Mean learning, min.")


class CameraNoise(_Model):
    """Imperfections of the simulated tracker output."""

    jitter_px: float = Field(default=2.0, ge=0, le=50, description="Anchor jitter (sd), pixels.")
    dropout_prob: float = Field(
        default=0.02, ge=0, le=0.5, description="Chance a person is missing from one frame."
    )
    id_switch_per_min: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Chance per person and minute in view that the tracker gives them a new id.",
    )


class KioskFaults(_Model):
    """How the kiosks of the hall fail, through the device fleet simulator."""

    enabled: bool = Field(default=True, description="Simulate the kiosks (device fleet simulator).")
    mtbf_scale: float = Field(
        default=1.0, gt=0, le=100, description="Multiplier of each kind's mean time between failures."
    )
    vendor_response_min: float = Field(
        default=45.0, gt=0, le=24 * 60, description="Mean minutes until the vendor starts a repair."
    )
    network_loss_per_day: float = Field(
        default=0.0, ge=0, le=100, description="Network losses per device per day."
    )


class Scenario(_Model):
    """Everything that shapes one simulated hall."""

    name: str = Field(min_length=1, max_length=40, description="Scenario name.")
    description_en: str = Field(max_length=400, description="What happens, in English.")
    description_zh: str = Field(max_length=400, description="What happens, in Chinese.")
    profile: dict[int, float] = Field(
        description=(
            "Relative arrival rate by local hour of day (0..23); linear between hour starts, "
            "0 for hours not listed. Only opening hours count."
        ),
        min_length=1,
    )
    peak_utilisation: float = Field(
        default=0.75,
        gt=0,
        le=5,
        description=(
            "Counter demand at the profile's highest hour as a share of the counters' capacity; "
            "sets the absolute arrival rate for any hall size."
        ),
    )
    surges: list[Surge] = Field(default_factory=list, max_length=50, description="Arrival surges.")
    gatherings: list[Gathering] = Field(
        default_factory=list, max_length=50, description="Crowds gathering in one zone (crowding)."
    )
    triage: Triage = Field(default_factory=Triage, description="Triage shares at the entrance.")
    consult_to_queue: float = Field(
        default=0.5, ge=0, le=1, description="Share of guide-desk visitors who then queue."
    )
    consult_mean_min: float = Field(default=2.0, gt=0, le=60, description="Mean time at the desk.")
    seated_share: float = Field(
        default=0.4,
        ge=0,
        le=1,
        description="Share of queuers who sit in a waiting area no counter names, when the hall has one.",
    )
    line_after_min: float | None = Field(
        default=None,
        gt=0,
        le=240,
        description=(
            "Seated customers not yet called walk from the seats into their counter's queue after "
            "this many minutes (their wait goes on); none: they stay seated until called."
        ),
    )
    ticket_share: float = Field(
        default=1.0,
        ge=0,
        le=1,
        description="Share of queuers who take a queue ticket (with --tickets); the others walk in.",
    )
    jobs: list[JobType] = Field(
        default_factory=lambda: [
            JobType(name="transaction", share=0.6, mean_min=3.0, simple=True),
            JobType(name="new_subscription", share=0.15, mean_min=8.0, sigma=0.3),
            JobType(name="sim_replacement", share=0.25, mean_min=3.0, simple=True),
        ],
        min_length=1,
        max_length=20,
        description="Counter job types.",
    )
    kiosk_mean_min: float = Field(default=2.5, gt=0, le=60, description="Mean kiosk use, minutes.")
    kiosk_give_up_min: float = Field(
        default=5.0, gt=0, le=120, description="Wait for a free kiosk this long, then queue instead."
    )
    loiter_mean_min: float = Field(default=8.0, gt=0, le=240, description="Mean loitering time.")
    loiter_to_queue: float = Field(
        default=0.3, ge=0, le=1, description="Share of loiterers who finally join a queue."
    )
    entrance_s: tuple[float, float] = Field(
        default=(8.0, 20.0), description="Time walking through the entrance zone, min and max s."
    )
    guide_on_floor: bool = Field(
        default=True, description="A guide stands at the guide desk (seen by cameras) while open."
    )
    breaks: StaffBreaks = Field(default_factory=StaffBreaks, description="Random staff breaks.")
    counter_events: list[CounterEvent] = Field(
        default_factory=list, max_length=200, description="Scheduled staff interruptions."
    )
    camera: CameraNoise = Field(default_factory=CameraNoise, description="Tracker imperfections.")
    kiosks: KioskFaults = Field(default_factory=KioskFaults, description="Kiosk failures.")

    @model_validator(mode="after")
    def _hours(self) -> Scenario:
        bad = [h for h in self.profile if not 0 <= h <= 23]
        if bad:
            raise ValueError(f"profile hours must be 0..23, got {bad}")
        if any(v < 0 for v in self.profile.values()):
            raise ValueError("profile rates cannot be negative")
        if max(self.profile.values()) <= 0:
            raise ValueError("profile needs at least one positive hour")
        lo, hi = self.entrance_s
        if not 0 < lo <= hi <= 600:
            raise ValueError(f"entrance_s must be 0 < min <= max <= 600, got {self.entrance_s}")
        return self


NORMAL = Scenario(
    name="normal",
    description_en="An ordinary weekday: a morning peak around 10:00 and an afternoon peak around 15:00.",
    description_zh="普通工作日：上午 10 点前后和下午 3 点前后各有一个高峰。",
    profile={9: 0.55, 10: 1.0, 11: 0.85, 12: 0.45, 13: 0.5, 14: 0.75, 15: 0.9, 16: 0.7, 17: 0.45},
    peak_utilisation=0.85,
)

BUSY_MORNING = Scenario(
    name="busy-morning",
    description_en=(
        "A busy morning from opening: an arrival surge after 30 minutes, two counters leaving "
        "at the worst moment, waits over 10 minutes, a crowded queue and failing kiosks."
    ),
    description_zh=(
        "开门即忙的上午：30 分钟后客流激增，两个台席在最忙时离席/学习，"
        "等待超过 10 分钟，排队区拥挤，自助设备故障。"
    ),
    profile={9: 0.75, 10: 1.0, 11: 0.9, 12: 0.5, 13: 0.5, 14: 0.75, 15: 0.9, 16: 0.7, 17: 0.45},
    peak_utilisation=0.65,
    surges=[Surge(at_min=30, duration_min=15, multiplier=2.5, min_surge_ratio=1.15)],
    gatherings=[Gathering(at_min=36, duration_min=8)],
    counter_events=[
        CounterEvent(at_min=40, counter=1, state=CounterStatus.AWAY, duration_min=12),
        CounterEvent(at_min=45, counter=2, state=CounterStatus.LEARNING, duration_min=10),
    ],
    kiosks=KioskFaults(mtbf_scale=0.02, vendor_response_min=10),
)

SCENARIOS: dict[str, Scenario] = {s.name: s for s in (NORMAL, BUSY_MORNING)}


def load_scenario(name_or_path: str) -> Scenario:
    """A built-in scenario by name, or a scenario YAML file (errors located by line)."""
    if name_or_path in SCENARIOS:
        return SCENARIOS[name_or_path]
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return load_yaml_model(path, Scenario)
    known = ", ".join(SCENARIOS)
    raise ValueError(f"unknown scenario {name_or_path!r}: use one of {known}, or a YAML file")
