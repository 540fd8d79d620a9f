"""A device with a wrong clock through a real server: its messages are rejected with reason
``clock``, the device API says so, and a ``device_clock`` alert is raised until its messages
are accepted again (docs/server.md, "One hall state")."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from lobbywatch.clock import FixedClock
from lobbywatch.protocol.messages import DeviceHeartbeat
from lobbywatch.protocol.sequence import Stamper
from tests.server.alerts.helpers_hall import hall_dict
from tests.server.alerts.helpers_server import served

pytestmark = pytest.mark.real


def test_a_wrong_clock_is_reported_on_the_device_api_and_alerted(
    tmp_path: Path, clock: FixedClock, site_id: str
) -> None:
    wrong = FixedClock(clock.now() + timedelta(days=1))  # k1's clock is a day ahead
    k1 = Stamper(site_id, "k1", clock=wrong)
    quiet: dict[str, list[str]] = {
        "routes": [],
        "escalation": [],
    }  # nothing to send: the alert is read from the engine
    with served(tmp_path, clock, hall_dict(site_id, notifications=quiet)) as s:
        engine = s.alerts.engine
        answer = s.ingest([k1.make(DeviceHeartbeat, uptime_s=1, interval_s=30) for _ in range(2)])
        assert answer["rejected"] == 2
        assert all(r["reason"].startswith("clock: ") for r in answer["results"])
        device = s.get(f"/api/v1/sites/{site_id}/devices/k1")
        assert device.status_code == 200, device.text
        live = device.json()["live"]
        assert live["clock_rejected"] == 2
        assert live["clock_problem"].startswith("clock: ts ")
        engine.tick()
        (alert,) = [a for a in engine.open_alerts(site_id) if a.kind == "device_clock"]
        assert (alert.subject, alert.device, alert.vendor, alert.params["count"]) == (
            "clock:k1",
            "k1",
            "v-one",
            2,
        )

        clock.advance(5)
        fixed = Stamper(site_id, "k1", clock=clock, next_seq=k1.next_seq)  # its clock was fixed
        answer = s.ingest([fixed.make(DeviceHeartbeat, uptime_s=6, interval_s=30)])
        assert answer["accepted"] == 1
        live = s.get(f"/api/v1/sites/{site_id}/devices/k1").json()["live"]
        assert (live["clock_problem"], live["clock_rejected"]) == (None, 2)
        engine.tick()
        assert [a for a in engine.open_alerts(site_id) if a.kind == "device_clock"] == []
