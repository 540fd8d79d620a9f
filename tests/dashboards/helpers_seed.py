"""Seed data for the dashboard query tests, shaped exactly as docs/data-model.md says.

Two halls (``a`` and ``b`` ids derived from the test's site id), a morning of zone and site
state, device history over three weeks, completed waits, camera visits and settled customers,
arrivals today and a week ago, and an alert lifecycle. The expected values the tests check are constants here.
"""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from influxdb_client.client.write.point import Point
from influxdb_client.domain.write_precision import WritePrecision

_POINT: Any = Point  # influxdb_client is untyped
_NS: Any = WritePrecision.NS

NOW = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
"""Monday 09:30 in Shanghai (the ``clock`` fixture's instant)."""
DAY_START = datetime(2026, 11, 22, 16, 0, tzinfo=UTC)
"""Local midnight (Asia/Shanghai) of NOW's day."""
OPEN = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
"""The hall opened at 08:00 local."""

ZONES = {"entrance": "entrance", "queue-a": "queue", "waiting": "waiting", "counters": "counter"}
LAST_OCCUPANCY = {"entrance": 3.0, "queue-a": 4.0, "waiting": 2.0, "counters": 2.0}
LAST_QUEUE = {"queue-a": 4, "waiting": 2}
LAST_LONGEST = {"entrance": 0.0, "queue-a": 700.0, "waiting": 300.0, "counters": 0.0}
LAST_EXPECTED = {"queue-a": 420.0, "waiting": 200.0}
SITE_EXPECTED_WAIT = 420.0
KIOSKS_WORKING = 1
DEVICE_STATE_NOW = {"kiosk-1": 0, "kiosk-2": 1, "kiosk-3": 3, "term-c1": 2}
VENDORS = {"kiosk-1": "huaxin-maint", "kiosk-2": "huaxin-maint", "kiosk-3": "zhongtian-svc"}
VENDORS["term-c1"] = "zhongtian-svc"
ARRIVALS_TODAY_A = 180  # 90 minutes x 2
ARRIVALS_TODAY_B = 270  # 90 minutes x 3
ARRIVALS_LAST_WEEK_A = 90  # 90 minutes x 1
ARRIVALS_WEEKS_AGO_A = (ARRIVALS_LAST_WEEK_A, 270, 180, 180)  # 1..4 weeks ago: n = 1, 3, 2, 2
ARRIVALS_USUAL_A = sum(ARRIVALS_WEEKS_AGO_A) / 4
WITHIN_A_PCT = 80.0
WITHIN_B_PCT = 100.0
ACTIVE_ALERTS = {"a1": "acknowledged", "a3": "firing"}
KIOSK1_FAULT_S = 7200.0


@dataclass(frozen=True)
class Halls:
    a: str
    b: str


def _p(measurement: str, t: datetime, tags: dict[str, str], fields: dict[str, object]) -> str:
    point: Any = _POINT(measurement)
    for tag, value in tags.items():
        point = point.tag(tag, value)
    for name, field_value in fields.items():
        point = point.field(name, field_value)
    line: str = point.time(t, _NS).to_line_protocol()
    return line


def _status(site: str, device: str, vendor: str, t: datetime, code: int, faults: int) -> str:
    state = ["working", "faulted", "out_of_service", "offline"][code]
    return _p(
        "device_status",
        t,
        {"site": site, "device": device, "vendor": vendor, "kind": "kiosk"},
        {"state": state, "state_code": code, "faults": faults},
    )


def lines(halls: Halls) -> list[str]:
    """Every point, as line protocol."""
    a, b = halls.a, halls.b
    out: list[str] = []
    # zone + site state, every 5 minutes over 3 hours; the last sample holds the LAST_* values
    steps = 36
    for i in range(steps + 1):
        t = NOW - timedelta(minutes=5 * (steps - i))
        ramp = i / steps
        for site in (a, b):
            total = 0.0
            for zone, kind in ZONES.items():
                occ = round(LAST_OCCUPANCY[zone] * ramp) if site == a else 1.0
                fields: dict[str, object] = {
                    "occupancy": float(occ),
                    "count": int(occ),
                    "longest_wait_s": LAST_LONGEST[zone] * ramp,
                    "waits_over_limit": 1 if LAST_LONGEST[zone] * ramp > 600 else 0,
                    "loitering": 0,
                    "entered_total": i * 2,
                    "exited_total": i * 2,
                }
                if zone in LAST_QUEUE:
                    fields["queue_length"] = round(LAST_QUEUE[zone] * ramp) if site == a else 1
                    fields["expected_wait_s"] = LAST_EXPECTED[zone] * ramp if site == a else 60.0
                total += float(occ)
                tags = {"site": site, "camera": "cam-1", "zone": zone, "kind": kind}
                out.append(_p("zone", t, tags, fields))
            out.append(
                _p(
                    "site",
                    t,
                    {"site": site},
                    {
                        "occupancy": total,
                        "kiosks_working": (3 if i < steps // 2 else KIOSKS_WORKING) if site == a else 2,
                        "kiosks_total": 3 if site == a else 2,
                        "expected_wait_s": SITE_EXPECTED_WAIT * ramp if site == a else 60.0,
                        "counters_serving": 2,
                    },
                )
            )
    # device history (hall a) and one device in hall b
    start = NOW - timedelta(days=20)
    for device in DEVICE_STATE_NOW:
        out.append(_status(a, device, VENDORS[device], start, 0, 0))
    fault1 = NOW - timedelta(days=10)
    out.append(_status(a, "kiosk-1", VENDORS["kiosk-1"], fault1, 1, 1))
    out.append(_status(a, "kiosk-1", VENDORS["kiosk-1"], fault1 + timedelta(seconds=KIOSK1_FAULT_S), 0, 0))
    out.append(_status(a, "kiosk-1", VENDORS["kiosk-1"], NOW - timedelta(hours=3), 0, 0))
    out.append(_status(a, "kiosk-2", VENDORS["kiosk-2"], NOW - timedelta(hours=2), 1, 1))
    out.append(_status(a, "kiosk-3", VENDORS["kiosk-3"], NOW - timedelta(minutes=30), 3, 0))
    out.append(_status(a, "term-c1", VENDORS["term-c1"], NOW - timedelta(minutes=20), 2, 0))
    out.append(_status(b, "kiosk-9", "huaxin-maint", NOW - timedelta(hours=1), 0, 0))
    for device, event, t in (
        ("kiosk-1", "fault_raised", fault1),
        ("kiosk-1", "fault_cleared", fault1 + timedelta(seconds=KIOSK1_FAULT_S)),
        ("kiosk-2", "fault_raised", NOW - timedelta(hours=2)),
    ):
        out.append(
            _p(
                "device_event",
                t,
                {"site": a, "device": device, "vendor": VENDORS[device], "event": event, "code": "paper_out"},
                {"severity": "warning", "unusable": 1, "detail": "paper roll empty", "n": 1},
            )
        )
    # completed waits: hall a 8 of 10 within the limit, hall b 4 of 4; service dwells are ignored
    for site, total, within in ((a, 10, 8), (b, 4, 4)):
        for i in range(total):
            ok = i < within
            out.append(
                _p(
                    "wait",
                    NOW - timedelta(minutes=10 + 7 * i),
                    {
                        "site": site,
                        "camera": "cam-1",
                        "zone": "queue-a",
                        "zone_kind": "queue",
                        "kind": "wait",
                        "outcome": "exited",
                    },
                    {"duration_s": 300.0 if ok else 800.0, "within_limit": 1 if ok else 0},
                )
            )
        tags = {"site": site, "camera": "cam-1", "zone": "counters", "zone_kind": "counter"}
        out.append(
            _p(
                "wait",
                NOW - timedelta(minutes=3),
                {**tags, "kind": "service", "outcome": "exited"},
                {"duration_s": 900.0},
            )
        )
    # settled customers: hall a 8 of 10 served within the limit (one served late, one walked
    # out), hall b 4 of 4; one who passed through has no wait, one lost no within_limit
    for site, total, within in ((a, 10, 8), (b, 4, 4)):
        for i in range(total):
            served = i != within + 1
            out.append(
                _p(
                    "customer_visit",
                    NOW - timedelta(minutes=10 + 7 * i),
                    {"site": site},
                    {
                        "outcome": "served" if served else "walked_out",
                        "camera_visits": 1,
                        "wait_s": 300.0 if i < within else 800.0,
                        "within_limit": int(i < within),
                    },
                )
            )
        no_share: tuple[tuple[str, dict[str, object]], ...] = (("passed", {}), ("lost", {"wait_s": 60.0}))
        for outcome, fields in no_share:
            out.append(
                _p(
                    "customer_visit",
                    NOW - timedelta(minutes=4),
                    {"site": site},
                    {"outcome": outcome, "camera_visits": 1, **fields},
                )
            )
    # camera visits as the cameras published them: the same, but one of hall b's customers
    # walked on from a second camera's view (a short walk-out there), which the share of
    # customers served in time must not count
    for site, total, within in ((a, 10, 8), (b, 4, 4)):
        for i in range(total):
            outcome = "served" if i != within + 1 else "walked_out"
            visit: dict[str, Any] = {
                "wait_s": 300.0 if i < within else 800.0,
                "within_limit": int(i < within),
            }
            if outcome == "served":
                visit["service_s"] = 200.0
            out.append(
                _p(
                    "visit",
                    NOW - timedelta(minutes=10 + 7 * i),
                    {"site": site, "camera": "cam-1", "outcome": outcome},
                    visit,
                )
            )
        out.append(
            _p(
                "visit",
                NOW - timedelta(minutes=4),
                {"site": site, "camera": "cam-1", "outcome": "lost"},
                {"wait_s": 60.0},
            )
        )
    out.append(
        _p(
            "visit",
            NOW - timedelta(minutes=11),
            {"site": b, "camera": "cam-2", "outcome": "walked_out"},
            {"wait_s": 120.0, "within_limit": 0},
        )
    )
    # arrivals per minute since opening, today and 1-4 weeks ago
    for m in range(90):
        t = OPEN + timedelta(minutes=m)
        out.append(_p("arrivals", t, {"site": a}, {"n": 2}))
        out.append(_p("arrivals", t, {"site": b}, {"n": 3}))
        for weeks, n in ((1, 1), (2, 3), (3, 2), (4, 2)):
            out.append(_p("arrivals", t - timedelta(days=7 * weeks), {"site": a}, {"n": n}))
    # alert lifecycles: a1 fired then acknowledged; a2 fired then resolved; a3 firing
    for alert_id, state, minutes_ago in (
        ("a1", "firing", 50),
        ("a1", "acknowledged", 40),
        ("a2", "firing", 30),
        ("a2", "resolved", 10),
        ("a3", "firing", 5),
    ):
        out.append(
            _p(
                "alert",
                NOW - timedelta(minutes=minutes_ago),
                {"site": a, "kind": "long_wait", "severity": "warning", "state": state},
                {
                    "alert_id": alert_id,
                    "title_en": f"Long wait {alert_id}",
                    "title_zh": f"等候过久 {alert_id}",
                    "text_en": "Visit the customer.",
                    "text_zh": "请关照顾客。",
                },
            )
        )
    return out


def write(url: str, db: str, halls: Halls) -> int:
    """POST every point to ``/write``; returns the number of points."""
    body = "\n".join(lines(halls)).encode()
    req = urllib.request.Request(f"{url}/write?db={db}&precision=ns", data=body, method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 204, resp.status
    return body.count(b"\n") + 1
