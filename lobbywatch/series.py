"""The InfluxDB time series: each measurement's name, tag names and field names, defined once
for the server that writes them and the dashboards that query them. Add names, never rename.

Each class is a namespace (``MEASUREMENT``, one constant per tag and field, ``TAGS`` and
``FIELDS`` in the documented order). ``docs/data-model.md`` is the contract (types, units,
when each point is written); ``tests/lobbywatch/test_series.py`` checks the two agree.
"""

from __future__ import annotations

from typing import ClassVar, Final

SITE: Final = "site"
"""The tag every measurement carries: the hall's site id."""


class Series:
    """What every measurement class defines."""

    MEASUREMENT: ClassVar[str]
    TAGS: ClassVar[tuple[str, ...]]
    FIELDS: ClassVar[tuple[str, ...]]
    SITE: Final = SITE


class Zone(Series):
    """``zone``: one point per ``zone_state``."""

    MEASUREMENT = "zone"
    CAMERA: Final = "camera"
    ZONE: Final = "zone"
    KIND: Final = "kind"
    OCCUPANCY: Final = "occupancy"
    COUNT: Final = "count"
    QUEUE_LENGTH: Final = "queue_length"
    LONGEST_WAIT_S: Final = "longest_wait_s"
    EXPECTED_WAIT_S: Final = "expected_wait_s"
    WAITS_OVER_LIMIT: Final = "waits_over_limit"
    LOITERING: Final = "loitering"
    ENTERED_TOTAL: Final = "entered_total"
    EXITED_TOTAL: Final = "exited_total"
    TAGS = (SITE, CAMERA, ZONE, KIND)
    FIELDS = (
        OCCUPANCY,
        COUNT,
        QUEUE_LENGTH,
        LONGEST_WAIT_S,
        EXPECTED_WAIT_S,
        WAITS_OVER_LIMIT,
        LOITERING,
        ENTERED_TOTAL,
        EXITED_TOTAL,
    )


class Wait(Series):
    """``wait``: one point per ``wait_record`` (time = when the wait ended)."""

    MEASUREMENT = "wait"
    CAMERA: Final = "camera"
    ZONE: Final = "zone"
    ZONE_KIND: Final = "zone_kind"
    KIND: Final = "kind"
    OUTCOME: Final = "outcome"
    DURATION_S: Final = "duration_s"
    WITHIN_LIMIT: Final = "within_limit"
    TAGS = (SITE, CAMERA, ZONE, ZONE_KIND, KIND, OUTCOME)
    FIELDS = (DURATION_S, WITHIN_LIMIT)


class Visit(Series):
    """``visit``: one point per ``visit`` record, i.e. per camera visit (time = when the person
    left that camera's view). A customer two cameras saw has two: waits and the share served
    in time come from :class:`CustomerVisit`."""

    MEASUREMENT = "visit"
    CAMERA: Final = "camera"
    OUTCOME: Final = "outcome"
    WAIT_S: Final = "wait_s"
    SERVICE_S: Final = "service_s"
    WITHIN_LIMIT: Final = "within_limit"
    TAGS = (SITE, CAMERA, OUTCOME)
    FIELDS = (WAIT_S, SERVICE_S, WITHIN_LIMIT)


class CustomerVisit(Series):
    """``customer_visit``: one point per customer once their visit is final (joined over every
    camera that saw them; :mod:`server.visit_settle`), time = when the camera visit naming the
    customer began. ``outcome`` is a field: a camera visit delivered after settling re-settles
    the customer and overwrites the point."""

    MEASUREMENT = "customer_visit"
    OUTCOME: Final = "outcome"
    CAMERA_VISITS: Final = "camera_visits"
    WAIT_S: Final = "wait_s"
    WITHIN_LIMIT: Final = "within_limit"
    TAGS = (SITE,)
    FIELDS = (OUTCOME, CAMERA_VISITS, WAIT_S, WITHIN_LIMIT)


class Camera(Series):
    """``camera``: one point per ``camera_status``."""

    MEASUREMENT = "camera"
    CAMERA: Final = "camera"
    ONLINE: Final = "online"
    STREAM_OK: Final = "stream_ok"
    FPS: Final = "fps"
    FRAMES_READ: Final = "frames_read"
    FRAMES_PROCESSED: Final = "frames_processed"
    FRAMES_DROPPED: Final = "frames_dropped"
    TAGS = (SITE, CAMERA)
    FIELDS = (ONLINE, STREAM_OK, FPS, FRAMES_READ, FRAMES_PROCESSED, FRAMES_DROPPED)


class DeviceStatus(Series):
    """``device_status``: a device's state, on each report and after each event."""

    MEASUREMENT = "device_status"
    DEVICE: Final = "device"
    VENDOR: Final = "vendor"
    KIND: Final = "kind"
    STATE: Final = "state"
    STATE_CODE: Final = "state_code"
    FAULTS: Final = "faults"
    TAGS = (SITE, DEVICE, VENDOR, KIND)
    FIELDS = (STATE, STATE_CODE, FAULTS)


class DeviceHeartbeat(Series):
    """``device_heartbeat``: one point per ``device_heartbeat``."""

    MEASUREMENT = "device_heartbeat"
    DEVICE: Final = "device"
    UPTIME_S: Final = "uptime_s"
    CPU_PCT: Final = "cpu_pct"
    MEM_PCT: Final = "mem_pct"
    DISK_FREE_PCT: Final = "disk_free_pct"
    TEMPERATURE_C: Final = "temperature_c"
    TAGS = (SITE, DEVICE)
    FIELDS = (UPTIME_S, CPU_PCT, MEM_PCT, DISK_FREE_PCT, TEMPERATURE_C)


class DeviceEvent(Series):
    """``device_event``: one point per ``device_event``."""

    MEASUREMENT = "device_event"
    DEVICE: Final = "device"
    VENDOR: Final = "vendor"
    EVENT: Final = "event"
    CODE: Final = "code"
    SEVERITY: Final = "severity"
    UNUSABLE: Final = "unusable"
    DETAIL: Final = "detail"
    N: Final = "n"
    TAGS = (SITE, DEVICE, VENDOR, EVENT, CODE)
    FIELDS = (SEVERITY, UNUSABLE, DETAIL, N)


class Counter(Series):
    """``counter``: one point per ``counter_state``."""

    MEASUREMENT = "counter"
    COUNTER: Final = "counter"
    STATE: Final = "state"
    STATE_CODE: Final = "state_code"
    TAGS = (SITE, COUNTER)
    FIELDS = (STATE, STATE_CODE)


class Site(Series):
    """``site``: the hall's totals, derived by the server on every change."""

    MEASUREMENT = "site"
    OCCUPANCY: Final = "occupancy"
    KIOSKS_WORKING: Final = "kiosks_working"
    KIOSKS_TOTAL: Final = "kiosks_total"
    EXPECTED_WAIT_S: Final = "expected_wait_s"
    COUNTERS_SERVING: Final = "counters_serving"
    TAGS = (SITE,)
    FIELDS = (OCCUPANCY, KIOSKS_WORKING, KIOSKS_TOTAL, EXPECTED_WAIT_S, COUNTERS_SERVING)


class Arrivals(Series):
    """``arrivals``: people entering the hall's entrance zones, per minute."""

    MEASUREMENT = "arrivals"
    N: Final = "n"
    TAGS = (SITE,)
    FIELDS = (N,)


class Gateway(Series):
    """``gateway``: the gateway's outbox, with every ingest batch."""

    MEASUREMENT = "gateway"
    GATEWAY: Final = "gateway"
    BACKLOG: Final = "backlog"
    BACKLOG_BYTES: Final = "backlog_bytes"
    OLDEST_AGE_S: Final = "oldest_age_s"
    SHED: Final = "shed"
    QUARANTINED: Final = "quarantined"
    TAGS = (SITE, GATEWAY)
    FIELDS = (BACKLOG, BACKLOG_BYTES, OLDEST_AGE_S, SHED, QUARANTINED)


class Alert(Series):
    """``alert``: one point per alert lifecycle change (Grafana annotations)."""

    MEASUREMENT = "alert"
    KIND: Final = "kind"
    SEVERITY: Final = "severity"
    STATE: Final = "state"
    ALERT_ID: Final = "alert_id"
    TITLE_EN: Final = "title_en"
    TITLE_ZH: Final = "title_zh"
    TEXT_EN: Final = "text_en"
    TEXT_ZH: Final = "text_zh"
    TAGS = (SITE, KIND, SEVERITY, STATE)
    FIELDS = (ALERT_ID, TITLE_EN, TITLE_ZH, TEXT_EN, TEXT_ZH)


class Stream(Series):
    """``stream``: sequence continuity per (site, source), with every ingest batch."""

    MEASUREMENT = "stream"
    SOURCE: Final = "source"
    EPOCH: Final = "epoch"
    HIGHEST_SEQ: Final = "highest_seq"
    GAPS: Final = "gaps"
    MISSING: Final = "missing"
    LATE: Final = "late"
    TAGS = (SITE, SOURCE)
    FIELDS = (EPOCH, HIGHEST_SEQ, GAPS, MISSING, LATE)


ALL: Final[tuple[type[Series], ...]] = (
    Zone,
    Wait,
    Visit,
    CustomerVisit,
    Camera,
    DeviceStatus,
    DeviceHeartbeat,
    DeviceEvent,
    Counter,
    Site,
    Arrivals,
    Gateway,
    Alert,
    Stream,
)
"""Every measurement, in the order of docs/data-model.md."""
