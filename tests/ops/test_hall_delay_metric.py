"""``lobbywatch_server_hall_data_delay_seconds``: how far behind a hall's data is, per gateway,
read from the hall state: seconds since the gateway's last batch plus the age of the oldest
message that batch said was still waiting."""

from __future__ import annotations

from pathlib import Path

import pytest

from lobbywatch.clock import FixedClock
from lobbywatch.protocol.messages import DeviceHeartbeat
from tests.helpers_metrics import samples, value
from tests.server.alerts.helpers_hall import hall_dict
from tests.server.alerts.helpers_server import Served, served

DELAY = "lobbywatch_server_hall_data_delay_seconds"


def _delay(s: Served) -> float:
    return value(samples(s.client.get("/metrics").text), DELAY, site=s.site, gateway="gw-1")


@pytest.mark.real
def test_delay_grows_while_the_gateway_is_silent_and_counts_its_backlog(
    tmp_path: Path, clock: FixedClock, site_id: str
) -> None:
    with served(tmp_path, clock, hall_dict(site_id)) as s:
        assert DELAY not in {name for name, _ in samples(s.client.get("/metrics").text)}  # no batch yet
        beat = s.make(DeviceHeartbeat, "k1", uptime_s=10, interval_s=30)
        s.ingest([beat], backlog=50, oldest_age_s=120.0)  # catching up: two minutes behind
        assert _delay(s) == pytest.approx(120.0)
        clock.advance(30)  # nothing since
        assert _delay(s) == pytest.approx(150.0)
        s.ingest([s.make(DeviceHeartbeat, "k1", uptime_s=40, interval_s=30)], backlog=0, oldest_age_s=0.5)
        assert _delay(s) == pytest.approx(0.5)  # the batch's one message was half a second old
