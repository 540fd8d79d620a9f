"""Line protocol: the cached series keys give exactly the lines plain ``Point``s give."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from lobbywatch import series
from lobbywatch.protocol.codec import decode_obj
from lobbywatch.protocol.enums import VisitOutcome
from lobbywatch.protocol.examples import EXAMPLES
from lobbywatch.protocol.ingest import IngestBatch
from lobbywatch.protocol.messages import DeviceEvent
from server.timeseries import lines
from server.timeseries.lines import Point, WritePrecision, _Line

LINE_KINDS = {"zone_state", "wait_record", "visit", "camera_status", "device_heartbeat", "counter_state"}


def _plain(line: _Line) -> str:
    """The same line built the documented way: one Point with tags, fields and time."""
    p = Point(line.measurement)
    for k, v in line.tags.items():
        p.tag(k, v)
    for k, v in line.point._fields.items():
        p.field(k, v)
    p.time(line.point._time, WritePrecision.NS)
    text: str = p.to_line_protocol()
    return text


@pytest.mark.parametrize(
    "tags",
    [
        {"site": "sh-pudong-01", "camera": "cam-1"},
        {"site": "a b,c=d", "zone": 'q"1\\', "kind": ""},  # spaces, commas, equals, quotes, empty
        {"zone": "队列", "site": "大厅"},  # unordered, non-ASCII
        {},
    ],
)
@pytest.mark.parametrize(
    "fields",
    [
        {"occupancy": 4.0, "count": 5, "detail": 'x "y" z', "ok": True},
        {"nan": float("nan"), "n": 1},  # Point drops non-finite floats
    ],
)
def test_series_cache_matches_point(tags: dict[str, str], fields: dict[str, Any]) -> None:
    for _ in range(2):  # the second round comes from the cache
        line = _Line("zone")
        for k, v in tags.items():
            line.tag(k, v)
        for k, v in fields.items():
            line.field(k, v)
        line.time(1_795_000_000_123_456_789, WritePrecision.NS)
        assert str(line) == _plain(line)


def test_line_without_fields_is_empty() -> None:
    assert str(_Line("zone").tag("site", "x")) == ""


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_message_lines_match_point(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[_Line] = []
    real = lines._line

    def spy(line: _Line) -> str:
        built.append(line)
        return real(line)

    monkeypatch.setattr(lines, "_line", spy)
    out = lines.message_lines(decode_obj(EXAMPLES[kind]))
    # device status and events get their lines from the device tracker, downlinks none
    assert bool(out) == (kind in LINE_KINDS)
    assert out == [_plain(b) for b in built]


def test_lines_use_the_names_of_lobbywatch_series(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every line any builder writes has a measurement, tags and fields of ``lobbywatch.series``."""
    built: list[_Line] = []
    real = lines._line

    def spy(line: _Line) -> str:
        built.append(line)
        return real(line)

    monkeypatch.setattr(lines, "_line", spy)
    for kind in sorted(EXAMPLES):
        message = decode_obj(EXAMPLES[kind])
        lines.message_lines(message)
        if isinstance(message, DeviceEvent):
            lines.device_event_line(message, "acme")
    when = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
    lines.device_status_line("s1", "d1", "acme", "kiosk", "faulted", 2, 123)
    lines.site_line(
        "s1", when, occupancy=3, kiosks_working=2, kiosks_total=3, expected_wait_s=1.0, counters_serving=1
    )
    lines.arrivals_line("s1", when, 5)
    lines.customer_line(
        "s1", 7, when, outcome=VisitOutcome.SERVED, camera_visits=2, wait_s=300.0, wait_limit_s=600.0
    )
    lines.stream_line("s1", "cam-1", 1, 10, 2, 1, 0, when)
    backlog = {"count": 3, "bytes": 100, "oldest_age_s": 1.5, "shed": 1, "quarantined": 2}
    batch = {"gateway": "gw-1", "site": "s1", "sent_at": when, "backlog": backlog, "messages": []}
    lines.gateway_line(IngestBatch.model_validate(batch))
    by_name = {s.MEASUREMENT: s for s in series.ALL}
    written = set()
    for line in built:
        s = by_name[line.measurement]
        written.add(line.measurement)
        assert set(line.tags) <= set(s.TAGS), line.measurement
        assert set(line.point._fields) <= set(s.FIELDS), line.measurement
    assert written == set(by_name) - {series.Alert.MEASUREMENT}  # alerts: server/alerts/influx.py


def test_customer_lines_judge_the_joined_wait_and_keep_their_time() -> None:
    when = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)

    def line(outcome: VisitOutcome, wait_s: float | None, customer: int = 1042) -> str:
        return lines.customer_line(
            "s1", customer, when, outcome=outcome, camera_visits=2, wait_s=wait_s, wait_limit_s=600
        )

    assert line(VisitOutcome.SERVED, 660.0) == (
        f'customer_visit,site=s1 camera_visits=2i,outcome="served",wait_s=660,within_limit=0i '
        f"{lines.ns(when) + 42}"
    )
    assert "within_limit=1i" in line(VisitOutcome.SERVED, 600.0)
    assert "within_limit=0i" in line(VisitOutcome.WALKED_OUT, 60.0)
    assert "within_limit" not in line(VisitOutcome.LOST, 60.0)  # cut short: no judgement
    assert "wait_s" not in line(VisitOutcome.PASSED, None)


def test_visit_lines_judge_the_wait_against_the_limit() -> None:
    served = decode_obj(EXAMPLES["visit"])  # waited 510 s, served
    assert "within_limit=1i" in lines.message_lines(served, wait_limit_s=600)[0]
    assert "within_limit=0i" in lines.message_lines(served, wait_limit_s=300)[0]
    walked = decode_obj(
        {
            **EXAMPLES["visit"],
            "outcome": "walked_out",
            "service_zone": None,
            "service_started": None,
            "service_s": None,
        }
    )
    assert "within_limit=0i" in lines.message_lines(walked, wait_limit_s=600)[0]
    passed = decode_obj(
        {**EXAMPLES["visit"], "outcome": "passed", "wait_zone": None, "wait_started": None, "wait_s": None}
        | {"service_zone": None, "service_started": None, "service_s": None}
    )
    assert lines.message_lines(passed) == []
