"""Acceptance: the downlink reaches a hall whose broker the server cannot reach (the server is
given no broker address at all) through the hall's gateway, over the gateway's own polls.

Real processes throughout: the central server (``lobbywatch server run``, SQLite), the
gateway (``python -m gateway run``), a device agent, and Mosquitto; a subscriber counts what
the hall broker carries."""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from lobbywatch.clock import SystemClock
from lobbywatch.protocol.enums import DeviceCommandKind
from lobbywatch.protocol.messages import AlertNotice, DeviceCommand, DeviceStatus, Envelope
from lobbywatch.protocol.sequence import Stamper
from lobbywatch.protocol.topics import ROOT, alert_downlink_topic, device_status_topic
from lobbywatch.services import Mosquitto, free_port, wait_until
from server.downlink import DownlinkQueue
from server.storage.db import Database
from tests.edge.devices.helpers_devices import (
    KIOSK,
    KIOSK_B,
    Recorder,
    http,
    recorder,
    start_agent_process,
    write_hall,
)
from tests.gateway.helpers_downlink import Central, HallGateway

pytestmark = pytest.mark.real


@pytest.fixture
def central(tmp_path: Path, site_id: str) -> Iterator[Central]:
    server = Central(tmp_path / "server", site_id).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def gateway(tmp_path: Path, site_id: str, mosquitto: Mosquitto, central: Central) -> Iterator[HallGateway]:
    gw = HallGateway(tmp_path / "gateway", site_id, mosquitto.port, central.url)
    try:
        yield gw
    finally:
        gw.stop()


def test_alerts_and_commands_reach_the_hall_through_its_gateway(
    tmp_path: Path, site_id: str, mosquitto: Mosquitto, central: Central, gateway: HallGateway
) -> None:
    """A fault raises an alert whose notice lands on the hall's alert topic; a manager puts a
    kiosk out of service and back from the API, the kiosk's agent applies the command and
    confirms, and the server shows its state."""
    probe = recorder(mosquitto.port, alert_downlink_topic(site_id), f"{ROOT}/{site_id}/device/+/downlink")
    status = recorder(mosquitto.port, device_status_topic(site_id, KIOSK_B))
    gateway.start()
    agent_port = free_port()
    (tmp_path / "agent").mkdir()
    hall = write_hall(tmp_path / "agent", site_id, mosquitto.port)
    agent = start_agent_process(hall, KIOSK_B, tmp_path / "agent" / "state", agent_port, "--heartbeat-s", "5")
    try:
        assert wait_until(lambda: central.device_state(KIOSK_B) == "online", 30), central.log()

        # alert -> queue -> gateway -> hall broker
        assert http(agent_port, "POST", "/v1/fault", {"code": "PRN_PAPER_OUT"})[0] == 200
        assert probe.wait_for(lambda _: _notices(probe, "firing"), 30), gateway.log()
        (firing,) = _notices(probe, "firing")
        assert (firing.kind, firing.device) == ("device_fault", KIOSK_B)
        assert http(agent_port, "POST", "/v1/fault", {"code": "PRN_PAPER_OUT", "clear": True})[0] == 200
        assert probe.wait_for(lambda _: _notices(probe, "resolved"), 30), gateway.log()
        assert wait_until(lambda: central.device_state(KIOSK_B) == "online", 30)

        # remote out-of-service: API -> queue -> gateway -> broker -> agent -> status -> server
        r = central.out_of_service(KIOSK_B, True)
        assert r.status_code == 202, r.text
        assert r.json()["command"] == "out_of_service_on"
        assert wait_until(lambda: central.device_state(KIOSK_B) == "out_of_service", 30), gateway.log()
        assert http(agent_port, "GET", "/v1/status")[1]["out_of_service"] is True
        assert status.wait_for(lambda _: _oos(status) is True, 10)
        episodes = central.call("GET", f"/api/v1/sites/{site_id}/devices/{KIOSK_B}/episodes", "admin")
        assert "out_of_service" in [e["state"] for e in episodes.json()]

        assert central.out_of_service(KIOSK_B, False).status_code == 202
        assert wait_until(lambda: central.device_state(KIOSK_B) == "online", 30), gateway.log()
        commands = [m for _, m, _ in probe.pump() if isinstance(m, DeviceCommand)]
        assert [c.command for c in commands] == ["out_of_service_on", "out_of_service_off"]
        assert len([m for _, m, _ in probe.pump() if isinstance(m, AlertNotice)]) == 2  # each once
    finally:
        agent.terminate()
        agent.wait(10)
        probe.close()
        status.close()


def test_pending_items_survive_server_and_gateway_restarts(
    tmp_path: Path, site_id: str, mosquitto: Mosquitto, central: Central, gateway: HallGateway
) -> None:
    """Items queued while the gateway is away survive a server restart; a gateway stopped or
    killed mid-stream resumes where it was: nothing lost, and nothing shown twice but (after
    SIGKILL only) the one item whose PUBACK came just before the kill."""
    probe = recorder(mosquitto.port, f"{ROOT}/{site_id}/device/+/downlink")
    try:
        for i in range(6):  # through the API, the gateway away
            assert central.out_of_service(KIOSK, on=i % 2 == 0).status_code == 202
        central.stop()  # the server restarts with six items pending
        central.start()
        for i in range(4):
            assert central.out_of_service(KIOSK, on=i % 2 == 0, role="admin").status_code == 202
        queue = DownlinkQueue(Database(central.sql_url), SystemClock())
        assert queue.pending(site_id) == 10
        stamper = Stamper(site_id, "test-commands", clock=SystemClock())
        bulk: list[Envelope] = [
            stamper.make(DeviceCommand, device=KIOSK, command=DeviceCommandKind.PING) for _ in range(600)
        ]
        assert queue.put(site_id, bulk) == list(range(11, 611))  # numbering went on after the restart
        total = 610

        def received() -> list[DeviceCommand]:
            return [m for _, m, _ in probe.pump() if isinstance(m, DeviceCommand)]

        gateway.start()
        assert wait_until(lambda: len(received()) >= 100, 30), gateway.log()
        gateway.stop(signal.SIGTERM)  # mid-stream, cleanly
        stopped_at = len(received())
        gateway.start()
        assert wait_until(lambda: len(received()) >= stopped_at + 100, 30), gateway.log()
        gateway.stop(signal.SIGKILL)  # mid-stream, like a power cut
        killed_at = len(received())
        assert stopped_at < killed_at < total  # both stops came mid-stream
        gateway.start()
        assert wait_until(lambda: len({m.id for m in received()}) >= total, 60), gateway.log()
        assert wait_until(lambda: queue.pending(site_id) == 0, 20)  # all acknowledged

        ids = Counter(m.id for m in received())
        assert len(ids) == total  # none lost
        twice = [i for i, n in ids.items() if n > 1]
        assert len(twice) <= 1, twice  # at most the one in flight at the SIGKILL
        assert all(n <= 2 for n in ids.values())
        print(f"stopped at {stopped_at}, killed at {killed_at}, shown twice: {len(twice)}")
        pings = [m.seq for m in received() if m.source == "test-commands"]
        assert sorted(set(pings)) == list(range(600))
        assert pings == sorted(pings)  # in order
        commands = [m.command for m in received() if m.source != "test-commands"]
        assert commands == ["out_of_service_on", "out_of_service_off"] * 5
    finally:
        probe.close()


def _notices(probe: Recorder, state: str) -> list[AlertNotice]:
    return [m for _, m, _ in probe.pump() if isinstance(m, AlertNotice) and m.state == state]


def _oos(rec: Recorder) -> bool | None:
    statuses = [m for _, m, _ in rec.pump() if isinstance(m, DeviceStatus)]
    return statuses[-1].out_of_service if statuses else None
