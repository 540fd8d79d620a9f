"""Late data through a real server: a hall's two-hour backlog uploaded after an outage pages
no one about what started and ended inside it, and pages once, saying since when, about what
is still true at its end (docs/alerts.md, "Late data")."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from lobbywatch.clock import FixedClock
from lobbywatch.protocol.enums import ZoneKind
from lobbywatch.protocol.messages import DeviceEvent, Envelope, ZoneState
from lobbywatch.protocol.sequence import Stamper
from tests.server.alerts.helpers_hall import hooked_hall_dict
from tests.server.alerts.helpers_receivers import start_http
from tests.server.alerts.helpers_server import served

pytestmark = pytest.mark.real


def _minute(queue: Stamper, k1: Stamper, minute: int) -> list[Envelope]:
    """One data minute of the hall: the queue's longest wait is past the 10-min care limit
    from minute 30 to 50; kiosk k1 faults at minute 90 and stays faulted."""
    wait = 700.0 if 30 <= minute < 50 else 60.0
    fields: dict[str, Any] = {"occupancy": 2.0, "count": 2, "entered_total": 0, "exited_total": 0}
    out: list[Envelope] = [
        queue.make(
            ZoneState, zone="queue-a", kind=ZoneKind.QUEUE, queue_length=1, longest_wait_s=wait, **fields
        )
    ]
    if minute == 90:
        out.append(k1.make(DeviceEvent, event="fault_raised", code="PRN_PAPER_OUT", unusable=True))
    return out


def test_a_replayed_backlog_pages_once_about_what_is_still_true(
    tmp_path: Path, clock: FixedClock, site_id: str
) -> None:
    http = start_http()
    try:
        cfg = hooked_hall_dict(site_id, f"{http.url}/hook")
        start = clock.now()  # 09:30 in the hall
        data = FixedClock(start)
        clock.advance(2 * 3600)  # the hall's gateway was cut off for two hours
        queue, k1 = Stamper(site_id, "cam-2", clock=data), Stamper(site_id, "k1", clock=data)
        with served(tmp_path, clock, cfg) as s:
            engine = s.alerts.engine
            for batch in range(12):  # ten data minutes a batch, the backlog stale until the last
                messages: list[Envelope] = []
                for i in range(10):
                    data.set(start + timedelta(minutes=batch * 10 + i))
                    messages += _minute(queue, k1, batch * 10 + i)
                last = batch == 11
                oldest_left = start + timedelta(minutes=(batch + 1) * 10)
                age = 0.0 if last else (clock.now() - oldest_left).total_seconds()
                answer = s.ingest(messages, backlog=0 if last else 1000, oldest_age_s=age)
                assert answer["accepted"] == len(messages), answer
                engine.tick()
                clock.advance(1)
            engine.tick()  # caught up: what is still firing is sent

            (req,) = http.wait_for("/hook")
            # One worker per channel sends in order: anything the backlog raised earlier
            # would have reached the hook before the fault.
            assert len(http.on("/hook")) == 1
            (sent,) = req.json()["alerts"]
            assert (sent["kind"], sent["event"], sent["device"]) == ("device_fault", "fired", "k1")
            assert sent["started_at"].startswith((start + timedelta(minutes=90)).isoformat()[:19])
            assert sent["body"]["en"].endswith(" Since 11:00 (the hall's data arrived late).")
            assert "自 11:00 起" in sent["body"]["zh-CN"]

            history = s.get(f"/api/v1/sites/{site_id}/alerts/history")
            assert history.status_code == 200, history.text
            (wait,) = [a for a in history.json() if a["kind"] == "long_wait"]
            assert wait["state"] == "resolved"
            assert (wait["muted"]["kind"], wait["muted"]["reason"]) == ("late", "late_data")
            assert wait["muted"]["title"]["en"] == "Not sent: raised from data that arrived late (backlog)"
            log = s.get(f"/api/v1/alerts/{wait['id']}/deliveries").json()
            assert log, "the delivery log does not say the wait was held back"
            assert {(d["skipped"], d["ok"]) for d in log} == {("late: backlog", False)}
    finally:
        http.server.shutdown()
        http.server.server_close()
