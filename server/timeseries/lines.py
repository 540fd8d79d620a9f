"""Protocol messages -> InfluxDB line protocol (docs/data-model.md is the contract).

Measurement, tag and field names come from :mod:`lobbywatch.series` (the dashboards query
the same names).

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

from lobbywatch import series
from lobbywatch.protocol.enums import CounterStatus, VisitOutcome
from lobbywatch.protocol.ingest import IngestBatch
from lobbywatch.protocol.messages import (
    CameraStatus,
    CounterState,
    DeviceEvent,
    DeviceHeartbeat,
    Envelope,
    VisitRecord,
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
        Z = series.Zone
        p = (
            _Line(Z.MEASUREMENT)
            .tag(Z.SITE, message.site)
            .tag(Z.CAMERA, message.source)
            .tag(Z.ZONE, message.zone)
            .tag(Z.KIND, message.kind.value)
            .field(Z.OCCUPANCY, float(message.occupancy))
            .field(Z.COUNT, message.count)
            .field(Z.WAITS_OVER_LIMIT, message.waits_over_limit)
            .field(Z.LOITERING, message.loitering)
            .field(Z.ENTERED_TOTAL, message.entered_total)
            .field(Z.EXITED_TOTAL, message.exited_total)
        )
        if message.queue_length is not None:
            p.field(Z.QUEUE_LENGTH, message.queue_length)
        if message.longest_wait_s is not None:
            p.field(Z.LONGEST_WAIT_S, float(message.longest_wait_s))
        if message.expected_wait_s is not None:
            p.field(Z.EXPECTED_WAIT_S, float(message.expected_wait_s))
        return [_line(p.time(msg_time(message), WritePrecision.NS))]
    if isinstance(message, WaitRecord):
        W = series.Wait
        p = (
            _Line(W.MEASUREMENT)
            .tag(W.SITE, message.site)
            .tag(W.CAMERA, message.source)
            .tag(W.ZONE, message.zone)
            .tag(W.ZONE_KIND, message.zone_kind.value)
            .tag(W.KIND, message.kind.value)
            .tag(W.OUTCOME, message.outcome.value)
            .field(W.DURATION_S, float(message.duration_s))
            .time(msg_time(message, message.ended), WritePrecision.NS)
        )
        if message.kind.value == "wait":
            p.field(W.WITHIN_LIMIT, int(message.duration_s <= wait_limit_s))
        return [_line(p)]
    if isinstance(message, VisitRecord):
        V = series.Visit
        p = (
            _Line(V.MEASUREMENT)
            .tag(V.SITE, message.site)
            .tag(V.CAMERA, message.source)
            .tag(V.OUTCOME, message.outcome.value)
            .time(msg_time(message, message.left), WritePrecision.NS)
        )
        if message.wait_s is not None:
            p.field(V.WAIT_S, float(message.wait_s))
            if message.outcome != VisitOutcome.LOST:
                served = message.outcome == VisitOutcome.SERVED
                p.field(V.WITHIN_LIMIT, int(served and message.wait_s <= wait_limit_s))
        if message.service_s is not None:
            p.field(V.SERVICE_S, float(message.service_s))
        line = _line(p)
        return [line] if line else []  # passed through: no wait, no service, no point
    if isinstance(message, CameraStatus):
        C = series.Camera
        p = (
            _Line(C.MEASUREMENT)
            .tag(C.SITE, message.site)
            .tag(C.CAMERA, message.source)
            .field(C.ONLINE, int(message.state.value == "online"))
            .field(C.STREAM_OK, int(message.stream_ok))
            .field(C.FRAMES_READ, message.frames_read)
            .field(C.FRAMES_PROCESSED, message.frames_processed)
            .field(C.FRAMES_DROPPED, message.frames_dropped)
            .time(msg_time(message), WritePrecision.NS)
        )
        if message.fps is not None:
            p.field(C.FPS, float(message.fps))
        return [_line(p)]
    if isinstance(message, DeviceHeartbeat):
        H = series.DeviceHeartbeat
        p = (
            _Line(H.MEASUREMENT)
            .tag(H.SITE, message.site)
            .tag(H.DEVICE, message.source)
            .field(H.UPTIME_S, float(message.uptime_s))
            .time(msg_time(message), WritePrecision.NS)
        )
        v = message.vitals
        for name in (H.CPU_PCT, H.MEM_PCT, H.DISK_FREE_PCT, H.TEMPERATURE_C):  # named as in Vitals
            value = getattr(v, name)
            if value is not None:
                p.field(name, float(value))
        return [_line(p)]
    if isinstance(message, CounterState):
        K = series.Counter
        p = (
            _Line(K.MEASUREMENT)
            .tag(K.SITE, message.site)
            .tag(K.COUNTER, message.counter)
            .field(K.STATE, message.state.value)
            .field(K.STATE_CODE, COUNTER_CODES[message.state])
            .time(msg_time(message), WritePrecision.NS)
        )
        return [_line(p)]
    return []


def device_event_line(message: DeviceEvent, vendor: str) -> str:
    E = series.DeviceEvent
    p = (
        _Line(E.MEASUREMENT)
        .tag(E.SITE, message.site)
        .tag(E.DEVICE, message.source)
        .tag(E.VENDOR, vendor)
        .tag(E.EVENT, message.event.value)
        .field(E.SEVERITY, message.severity.value if message.severity else "")
        .field(E.UNUSABLE, int(bool(message.unusable)))
        .field(E.DETAIL, message.detail or "")
        .field(E.N, 1)
        .time(msg_time(message), WritePrecision.NS)
    )
    if message.code is not None:
        p.tag(E.CODE, message.code)
    return _line(p)


def device_status_line(
    site: str, device: str, vendor: str, kind: str, state: str, faults: int, time_ns: int
) -> str:
    D = series.DeviceStatus
    p = (
        _Line(D.MEASUREMENT)
        .tag(D.SITE, site)
        .tag(D.DEVICE, device)
        .tag(D.VENDOR, vendor)
        .tag(D.KIND, kind)
        .field(D.STATE, state)
        .field(D.STATE_CODE, STATE_CODES[state])
        .field(D.FAULTS, faults)
        .time(time_ns, WritePrecision.NS)
    )
    return _line(p)


def gateway_line(batch: IngestBatch) -> str:
    b = batch.backlog
    G = series.Gateway
    p = (
        _Line(G.MEASUREMENT)
        .tag(G.SITE, batch.site)
        .tag(G.GATEWAY, batch.gateway)
        .field(G.BACKLOG, b.count)
        .field(G.BACKLOG_BYTES, b.bytes)
        .field(G.OLDEST_AGE_S, float(b.oldest_age_s))
        .field(G.SHED, b.shed)
        .field(G.QUARANTINED, b.quarantined)
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
    S = series.Site
    p = (
        _Line(S.MEASUREMENT)
        .tag(S.SITE, site)
        .field(S.OCCUPANCY, float(occupancy))
        .field(S.KIOSKS_WORKING, kiosks_working)
        .field(S.KIOSKS_TOTAL, kiosks_total)
        .field(S.COUNTERS_SERVING, counters_serving)
        .time(ns(when), WritePrecision.NS)
    )
    if expected_wait_s is not None:
        p.field(S.EXPECTED_WAIT_S, float(expected_wait_s))
    return _line(p)


def arrivals_line(site: str, minute: datetime, n: int) -> str:
    """People who arrived in ``site`` during ``minute`` (the rollups count them with
    :func:`server.arrivals.arrivals_total`; never entries of people leaving)."""
    A = series.Arrivals
    return _line(_Line(A.MEASUREMENT).tag(A.SITE, site).field(A.N, n).time(ns(minute), WritePrecision.NS))


def stream_line(
    site: str, source: str, epoch: int, highest: int, gaps: int, missing: int, late: int, when: datetime
) -> str:
    T = series.Stream
    p = (
        _Line(T.MEASUREMENT)
        .tag(T.SITE, site)
        .tag(T.SOURCE, source)
        .field(T.EPOCH, epoch)
        .field(T.HIGHEST_SEQ, highest)
        .field(T.GAPS, gaps)
        .field(T.MISSING, missing)
        .field(T.LATE, late)
        .time(ns(when), WritePrecision.NS)
    )
    return _line(p)


def customer_time(customer: int, named_at: datetime) -> int:
    """A customer's ``customer_visit`` point time: ``named_at`` (when the camera visit naming
    the customer began) plus ``customer mod 1000`` ns, so settling them again overwrites it."""
    return ns(named_at) + customer % 1000


def customer_delete(site: str, customer: int, named_at: datetime) -> str:
    """The InfluxQL statement that deletes the ``customer_visit`` point of :func:`customer_line`
    (a customer merged into another one since: :mod:`server.visit_settle`); the exact time in
    ns, so it removes that point only.

    >>> print(customer_delete("hall-1", 1042, datetime(2026, 1, 1, tzinfo=UTC)))
    DELETE FROM "customer_visit" WHERE "site" = 'hall-1' AND time = 1767225600000000042
    """
    U = series.CustomerVisit
    value = site.replace("\\", "\\\\").replace("'", "\\'")
    return (
        f'DELETE FROM "{U.MEASUREMENT}" WHERE "{U.SITE}" = \'{value}\''
        f" AND time = {customer_time(customer, named_at)}"
    )


def customer_line(
    site: str,
    customer: int,
    named_at: datetime,
    *,
    outcome: VisitOutcome,
    camera_visits: int,
    wait_s: float | None,
    wait_limit_s: float,
) -> str:
    """One settled customer's ``customer_visit`` point (:mod:`server.visit_settle`) at
    :func:`customer_time`; ``within_limit`` as for ``visit``."""
    U = series.CustomerVisit
    p = (
        _Line(U.MEASUREMENT)
        .tag(U.SITE, site)
        .field(U.OUTCOME, outcome.value)
        .field(U.CAMERA_VISITS, camera_visits)
        .time(customer_time(customer, named_at), WritePrecision.NS)
    )
    if wait_s is not None:
        p.field(U.WAIT_S, float(wait_s))
        if outcome != VisitOutcome.LOST:
            p.field(U.WITHIN_LIMIT, int(outcome == VisitOutcome.SERVED and wait_s <= wait_limit_s))
    return _line(p)
