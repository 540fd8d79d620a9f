"""Protocol messages -> InfluxDB line protocol (docs/data-model.md is the contract).

Lines are built with ``influxdb_client.Point`` (escaping is its job, not ours). A point's
time is the source's ``ts`` in nanoseconds plus ``seq mod 1000`` ns, so a replay overwrites
a point instead of duplicating it, and two messages of one source with the same ``ts`` stay
two points.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import influxdb_client

from lobbywatch.protocol.enums import CounterStatus
from lobbywatch.protocol.ingest import IngestBatch
from lobbywatch.protocol.messages import (
    CameraStatus,
    CounterState,
    DeviceEvent,
    DeviceHeartbeat,
    Envelope,
    WaitRecord,
    ZoneState,
)

# influxdb-client ships without complete type hints: use it through Any.
Point: Any = getattr(influxdb_client, "Point")  # noqa: B009
WritePrecision: Any = getattr(influxdb_client, "WritePrecision")  # noqa: B009

STATE_CODES = {"working": 0, "faulted": 1, "out_of_service": 2, "offline": 3}
COUNTER_CODES = {
    CounterStatus.SERVING: 0,
    CounterStatus.STANDBY: 1,
    CounterStatus.LEARNING: 2,
    CounterStatus.AWAY: 3,
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ns(when: datetime) -> int:
    """Nanoseconds since the Unix epoch, exact (no float rounding)."""
    delta = when - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def msg_time(message: Envelope, when: datetime | None = None) -> int:
    return ns(when or message.ts) + message.seq % 1000


@lru_cache(maxsize=65_536)
def _series(measurement: str, tags: tuple[tuple[str, str], ...]) -> str:
    """The escaped series key ``measurement,tag=value,...`` (tags sorted), as Point writes it.

    A hall repeats a few hundred series, so the key is built by ``Point`` once per series and
    cached: tag escaping was a third of the cost of a line.
    """
    point = Point(measurement)
    for key, value in tags:
        point.tag(key, value)
    line: str = point.field("_", 0).to_line_protocol()
    return line[: -len(" _=0i")]


class _Line:
    """A ``Point`` for fields and time, its tags kept aside for the cached series key.

    Same chainable calls as ``Point``; ``str(line)`` equals the line protocol the same Point
    with the tags writes (``tests/server/test_lines.py`` checks it).
    """

    __slots__ = ("measurement", "point", "tags")

    def __init__(self, measurement: str) -> None:
        self.measurement = measurement
        self.tags: dict[str, str] = {}
        self.point = Point(measurement)

    def tag(self, key: str, value: str) -> _Line:
        self.tags[key] = value
        return self

    def field(self, key: str, value: object) -> _Line:
        self.point.field(key, value)
        return self

    def time(self, when: int, precision: Any) -> _Line:
        self.point.time(when, precision)
        return self

    def __str__(self) -> str:
        body: str = self.point.to_line_protocol()
        if not body:
            return ""
        head = _series(self.measurement, ())
        return _series(self.measurement, tuple(self.tags.items())) + body[len(head) :]


def _line(line: _Line) -> str:
    return str(line)


def message_lines(message: Envelope, *, wait_limit_s: float = 600.0) -> list[str]:
    """Lines for one accepted message (device_status lines come from the device tracker)."""
    if isinstance(message, ZoneState):
        p = (
            _Line("zone")
            .tag("site", message.site)
            .tag("camera", message.source)
            .tag("zone", message.zone)
            .tag("kind", message.kind.value)
            .field("occupancy", float(message.occupancy))
            .field("count", message.count)
            .field("waits_over_limit", message.waits_over_limit)
            .field("loitering", message.loitering)
            .field("entered_total", message.entered_total)
            .field("exited_total", message.exited_total)
        )
        if message.queue_length is not None:
            p.field("queue_length", message.queue_length)
        if message.longest_wait_s is not None:
            p.field("longest_wait_s", float(message.longest_wait_s))
        if message.expected_wait_s is not None:
            p.field("expected_wait_s", float(message.expected_wait_s))
        return [_line(p.time(msg_time(message), WritePrecision.NS))]
    if isinstance(message, WaitRecord):
        p = (
            _Line("wait")
            .tag("site", message.site)
            .tag("camera", message.source)
            .tag("zone", message.zone)
            .tag("zone_kind", message.zone_kind.value)
            .tag("kind", message.kind.value)
            .tag("outcome", message.outcome.value)
            .field("duration_s", float(message.duration_s))
            .time(msg_time(message, message.ended), WritePrecision.NS)
        )
        if message.kind.value == "wait":
            p.field("within_limit", int(message.duration_s <= wait_limit_s))
        return [_line(p)]
    if isinstance(message, CameraStatus):
        p = (
            _Line("camera")
            .tag("site", message.site)
            .tag("camera", message.source)
            .field("online", int(message.state.value == "online"))
            .field("stream_ok", int(message.stream_ok))
            .field("frames_read", message.frames_read)
            .field("frames_processed", message.frames_processed)
            .field("frames_dropped", message.frames_dropped)
            .time(msg_time(message), WritePrecision.NS)
        )
        if message.fps is not None:
            p.field("fps", float(message.fps))
        return [_line(p)]
    if isinstance(message, DeviceHeartbeat):
        p = (
            _Line("device_heartbeat")
            .tag("site", message.site)
            .tag("device", message.source)
            .field("uptime_s", float(message.uptime_s))
            .time(msg_time(message), WritePrecision.NS)
        )
        v = message.vitals
        for name in ("cpu_pct", "mem_pct", "disk_free_pct", "temperature_c"):
            value = getattr(v, name)
            if value is not None:
                p.field(name, float(value))
        return [_line(p)]
    if isinstance(message, CounterState):
        p = (
            _Line("counter")
            .tag("site", message.site)
            .tag("counter", message.counter)
            .field("state", message.state.value)
            .field("state_code", COUNTER_CODES[message.state])
            .time(msg_time(message), WritePrecision.NS)
        )
        return [_line(p)]
    return []


def device_event_line(message: DeviceEvent, vendor: str) -> str:
    p = (
        _Line("device_event")
        .tag("site", message.site)
        .tag("device", message.source)
        .tag("vendor", vendor)
        .tag("event", message.event.value)
        .field("severity", message.severity.value if message.severity else "")
        .field("unusable", int(bool(message.unusable)))
        .field("detail", message.detail or "")
        .field("n", 1)
        .time(msg_time(message), WritePrecision.NS)
    )
    if message.code is not None:
        p.tag("code", message.code)
    return _line(p)


def device_status_line(
    site: str, device: str, vendor: str, kind: str, state: str, faults: int, time_ns: int
) -> str:
    p = (
        _Line("device_status")
        .tag("site", site)
        .tag("device", device)
        .tag("vendor", vendor)
        .tag("kind", kind)
        .field("state", state)
        .field("state_code", STATE_CODES[state])
        .field("faults", faults)
        .time(time_ns, WritePrecision.NS)
    )
    return _line(p)


def gateway_line(batch: IngestBatch) -> str:
    b = batch.backlog
    p = (
        _Line("gateway")
        .tag("site", batch.site)
        .tag("gateway", batch.gateway)
        .field("backlog", b.count)
        .field("backlog_bytes", b.bytes)
        .field("oldest_age_s", float(b.oldest_age_s))
        .field("shed", b.shed)
        .field("quarantined", b.quarantined)
        .time(ns(batch.sent_at), WritePrecision.NS)
    )
    return _line(p)


def site_line(
    site: str,
    when: datetime,
    *,
    occupancy: float,
    kiosks_working: int,
    kiosks_total: int,
    expected_wait_s: float | None,
    counters_serving: int,
) -> str:
    p = (
        _Line("site")
        .tag("site", site)
        .field("occupancy", float(occupancy))
        .field("kiosks_working", kiosks_working)
        .field("kiosks_total", kiosks_total)
        .field("counters_serving", counters_serving)
        .time(ns(when), WritePrecision.NS)
    )
    if expected_wait_s is not None:
        p.field("expected_wait_s", float(expected_wait_s))
    return _line(p)


def arrivals_line(site: str, minute: datetime, n: int) -> str:
    return _line(_Line("arrivals").tag("site", site).field("n", n).time(ns(minute), WritePrecision.NS))


def stream_line(
    site: str, source: str, epoch: int, highest: int, gaps: int, missing: int, late: int, when: datetime
) -> str:
    p = (
        _Line("stream")
        .tag("site", site)
        .tag("source", source)
        .field("epoch", epoch)
        .field("highest_seq", highest)
        .field("gaps", gaps)
        .field("missing", missing)
        .field("late", late)
        .time(ns(when), WritePrecision.NS)
    )
    return _line(p)
