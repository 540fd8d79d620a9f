"""The device agent against a real Mosquitto: faults, out-of-service, counter state, local API,
last-will on SIGKILL, and the durable outbox across a broker outage and an agent restart."""

from __future__ import annotations

import json
import signal
from datetime import timedelta
from pathlib import Path

from edge.devices.agent import DeviceAgent
from edge.devices.http_api import MAX_BODY_BYTES
from lobbywatch.clock import FixedClock
from lobbywatch.config.site import BrokerConfig
from lobbywatch.mqtt import connect_and_wait, make_client, publish
from lobbywatch.protocol.enums import DeviceCommandKind
from lobbywatch.protocol.messages import CounterStateSet, DeviceCommand, DeviceEvent, DeviceStatus
from lobbywatch.protocol.sequence import Stamper
from lobbywatch.protocol.topics import device_prefix, device_status_topic
from lobbywatch.services import Mosquitto, free_port, wait_until
from tests.edge.devices.helpers_devices import (
    KIOSK,
    TERMINAL,
    hall,
    http,
    recorder,
    start_agent_process,
    write_hall,
)


def _events(rec_msgs: list[DeviceEvent]) -> list[tuple[str, str | None]]:
    return [(m.event.value, m.code) for m in rec_msgs]


def test_fault_puts_device_out_of_service_and_status_lists_it(
    agent: DeviceAgent, mosquitto: Mosquitto, site_id: str
) -> None:
    rec = recorder(mosquitto.port, f"{device_prefix(site_id, KIOSK)}/#")
    assert agent.raise_fault("PRN_PAPER_OUT", "roll empty")
    assert not agent.raise_fault("PRN_PAPER_OUT")  # already active: no second event
    assert agent.raise_fault("UPS_ON_BATTERY")
    assert agent.clear_fault("PRN_PAPER_OUT")
    expected = [
        ("fault_raised", "PRN_PAPER_OUT"),
        ("out_of_service_on", None),
        ("fault_raised", "UPS_ON_BATTERY"),
        ("fault_cleared", "PRN_PAPER_OUT"),
        ("out_of_service_off", None),
    ]
    assert rec.wait_for(lambda _: len(rec.of_type("device_event")) >= 5)
    events = [m for m in rec.of_type("device_event") if isinstance(m, DeviceEvent)]
    assert _events(events) == expected
    assert events[0].unusable
    assert events[0].severity == "critical"
    assert events[0].detail == "roll empty"
    assert events[1].by == "fault"
    rec.close()
    # a late subscriber sees the retained status with the one fault still active
    late = recorder(mosquitto.port, device_status_topic(site_id, KIOSK))
    assert late.wait_for(lambda msgs: msgs and msgs[-1][1].faults == ["UPS_ON_BATTERY"])
    _, status, retained = late.pump()[-1]
    assert retained
    assert isinstance(status, DeviceStatus)
    assert status.state == "online"
    assert not status.out_of_service
    assert status.info is not None
    assert status.info.model == "HX-TK300"
    assert status.heartbeat_s == 30
    late.close()


def test_counter_terminal_reports_counter_states(
    site_id: str, broker_cfg: BrokerConfig, tmp_path: Path, mosquitto: Mosquitto, clock: FixedClock
) -> None:
    rec = recorder(mosquitto.port, f"{device_prefix(site_id, TERMINAL)}/counter/#")
    term = DeviceAgent(hall(site_id), TERMINAL, state_dir=tmp_path, broker=broker_cfg, clock=clock).start()
    try:
        for state in ("serving", "learning", "away", "standby"):
            assert term.set_counter_state(state)
        assert rec.wait_for(lambda msgs: len(msgs) >= 4)
        assert [(m.counter, m.state) for m in rec.of_type("counter_state")] == [  # type: ignore[attr-defined]
            ("c1", "serving"),
            ("c1", "learning"),
            ("c1", "away"),
            ("c1", "standby"),
        ]
    finally:
        term.stop()
        rec.close()


def test_counter_terminal_takes_the_state_staff_set_and_reports_it(
    site_id: str, broker_cfg: BrokerConfig, tmp_path: Path, mosquitto: Mosquitto, clock: FixedClock
) -> None:
    """A state set on the counter display (retained on the counter's downlink topic) is taken
    when newer than the terminal's own last change and reported back; an older one is not."""
    rec = recorder(mosquitto.port, f"{device_prefix(site_id, TERMINAL)}/counter/#")
    gateway = make_client("gw-" + site_id, broker_cfg)
    connect_and_wait(gateway, broker_cfg)
    stamper = Stamper(site_id, "server-counters", clock=clock)
    term = DeviceAgent(hall(site_id), TERMINAL, state_dir=tmp_path, broker=broker_cfg, clock=clock).start()
    try:
        assert wait_until(lambda: term.connected, 10)
        assert term.set_counter_state("serving")
        older = stamper.make(
            CounterStateSet, counter="c1", state="away", since=clock.now() - timedelta(minutes=1)
        )
        publish(gateway, older).wait_for_publish(5)
        clock.advance(5)
        newer = stamper.make(CounterStateSet, counter="c1", state="learning", since=clock.now())
        publish(gateway, newer).wait_for_publish(5)
        assert wait_until(lambda: term.state.counter_state == "learning", 10)
        assert rec.wait_for(lambda _: len(rec.of_type("counter_state")) >= 2)
        assert [m.state for m in rec.of_type("counter_state")] == ["serving", "learning"]  # type: ignore[attr-defined]
        assert term.counters.counter_states_set == 1
    finally:
        term.stop()
        gateway.loop_stop()
        gateway.disconnect()
        rec.close()


def test_remote_out_of_service_command(agent: DeviceAgent, mosquitto: Mosquitto, site_id: str) -> None:
    """A command from the hall's gateway (which fetched it from the server) is applied and
    confirmed with the device's status; a command that changes nothing is confirmed too."""
    rec = recorder(mosquitto.port, device_status_topic(site_id, KIOSK))
    gateway = make_client("gw-" + site_id, BrokerConfig(host=mosquitto.host, port=mosquitto.port))
    connect_and_wait(gateway, BrokerConfig(host=mosquitto.host, port=mosquitto.port))
    stamper = Stamper(site_id, "server-commands", clock=FixedClock.at("2026-11-23T01:30:00Z"))

    def confirmed() -> int:
        statuses = rec.of_type("device_status")
        return len([m for m in statuses if isinstance(m, DeviceStatus) and m.out_of_service])

    on = DeviceCommandKind.OUT_OF_SERVICE_ON
    publish(gateway, stamper.make(DeviceCommand, device=KIOSK, command=on))
    assert wait_until(lambda: agent.state.out_of_service and agent.state.oos_by == "remote", 10)
    assert rec.wait_for(lambda _: confirmed() == 1, 10)
    publish(gateway, stamper.make(DeviceCommand, device=KIOSK, command=on))
    assert rec.wait_for(lambda _: confirmed() == 2, 10)
    gateway.publish(f"{device_prefix(site_id, KIOSK)}/downlink", b"{not json", qos=1)
    assert wait_until(lambda: agent.counters.bad_downlinks == 1, 10)
    assert agent.counters.commands == 2
    gateway.loop_stop()
    gateway.disconnect()
    rec.close()


def test_a_command_sent_while_the_agent_is_away_reaches_it_when_it_is_back(
    site_id: str, broker_cfg: BrokerConfig, tmp_path: Path, clock: FixedClock
) -> None:
    """The agent's broker session persists: a command the gateway published while the agent
    was stopped is delivered when it starts again (it was lost before: clean sessions)."""
    state = tmp_path / "state"
    first = DeviceAgent(hall(site_id), KIOSK, state_dir=state, broker=broker_cfg, clock=clock, http_port=0)
    first.start()
    assert wait_until(lambda: first.connected, 10)
    first.stop()
    gateway = make_client("gw-" + site_id, broker_cfg)
    connect_and_wait(gateway, broker_cfg)
    stamper = Stamper(site_id, "server-commands", clock=FixedClock.at("2026-11-23T01:30:00Z"))
    info = publish(
        gateway, stamper.make(DeviceCommand, device=KIOSK, command=DeviceCommandKind.OUT_OF_SERVICE_ON)
    )
    info.wait_for_publish(5)
    gateway.loop_stop()
    gateway.disconnect()
    again = DeviceAgent(hall(site_id), KIOSK, state_dir=state, broker=broker_cfg, clock=clock, http_port=0)
    again.start()
    try:
        assert wait_until(lambda: again.state.out_of_service and again.state.oos_by == "remote", 10)
        assert again.counters.commands == 1
    finally:
        again.stop()


def test_bad_local_input_gets_4xx_and_agent_keeps_running(agent: DeviceAgent) -> None:
    assert agent.http_address is not None
    port = agent.http_address[1]
    status, body = http(port, "POST", "/v1/fault", {"code": "PRN_PAPER_GONE"})
    assert status == 422
    assert "unknown fault code 'PRN_PAPER_GONE'" in body["error"]
    assert body["error_zh"]
    status, body = http(port, "POST", "/v1/fault", {"code": 42, "clear": "yes"})
    assert status == 422
    assert "code" in body["error"]
    assert "clear" in body["error"]
    status, body = http(port, "POST", "/v1/fault", {"code": "PRN_JAM", "colour": "red"})
    assert status == 422
    assert "colour: unknown field" in body["error"]
    status, body = http(port, "POST", "/v1/fault", b"x" * (MAX_BODY_BYTES + 1))
    assert status == 413
    status, body = http(port, "POST", "/v1/fault", b"x" * (3 * 1024 * 1024))
    assert status == 413
    assert "limit" in body["error"]
    status, body = http(port, "POST", "/v1/fault", b"{not json")
    assert status == 400
    assert "not JSON" in body["error"]
    status, body = http(port, "POST", "/v1/counter", {"state": "serving"})
    assert status == 409
    assert "not a counter terminal" in body["error"]
    status, body = http(port, "POST", "/v1/counter", {"state": "sleeping"})
    assert status == 422
    status, body = http(port, "GET", "/v1/nowhere")
    assert status == 404
    # still alive and serving
    status, body = http(port, "POST", "/v1/fault", {"code": "PRN_JAM"})
    assert status == 200
    assert body == {"changed": True, "code": "PRN_JAM", "active": True}
    status, body = http(port, "POST", "/v1/out-of-service", {"on": False})
    assert status == 200
    assert body["changed"] is True
    assert http(port, "GET", "/v1/status")[1]["faults"] == {"PRN_JAM": None}


def test_sigkill_makes_the_broker_publish_the_offline_will(
    site_id: str, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    config = write_hall(tmp_path, site_id, mosquitto.port)
    rec = recorder(mosquitto.port, device_status_topic(site_id, KIOSK))
    port = free_port()
    proc = start_agent_process(config, KIOSK, tmp_path / "state", port)
    try:
        assert rec.wait_for(lambda msgs: any(m.state == "online" for _, m, _ in msgs))  # type: ignore[attr-defined]
        birth = next(m for _, m, _ in rec.pump() if m.state == "online")  # type: ignore[attr-defined]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert rec.wait_for(lambda msgs: any(m.is_will for _, m, _ in msgs), timeout=20)
        will = next(m for _, m, _ in rec.pump() if m.is_will)
        assert isinstance(will, DeviceStatus)
        assert will.state == "offline"
        assert will.seq == birth.seq
        assert will.epoch == birth.epoch
    finally:
        if proc.poll() is None:
            proc.kill()
        rec.close()
    # the will is retained: a newcomer sees the device offline
    late = recorder(mosquitto.port, device_status_topic(site_id, KIOSK))
    assert late.wait_for(lambda msgs: msgs and msgs[-1][1].is_will and msgs[-1][2])
    late.close()


def test_outbox_survives_broker_outage_and_agent_restart(
    site_id: str, fresh_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    broker = fresh_mosquitto
    config = write_hall(tmp_path, site_id, broker.port)
    state = tmp_path / "state"
    rec = recorder(broker.port, f"{device_prefix(site_id, KIOSK)}/#", persistent=True)
    port = free_port()
    proc = start_agent_process(config, KIOSK, state, port)
    try:
        # the first heartbeat follows the birth; next one is 30 s away, after this test
        assert rec.wait_for(lambda _: rec.of_type("device_heartbeat"))
        assert http(port, "POST", "/v1/fault", {"code": "COIN_HOPPER_EMPTY"})[0] == 200
        # settle the QoS 1 handshakes both ways, so no acknowledgement is lost in the outage
        assert wait_until(lambda: http(port, "GET", "/v1/status")[1]["backlog"] == 0, 10)
        assert rec.wait_for(lambda _: rec.of_type("device_event"))
        rec.sync()
        broker.stop()
        codes = ["PRN_PAPER_LOW", "DOOR_OPEN", "UPS_ON_BATTERY"]
        for code in codes:
            assert http(port, "POST", "/v1/fault", {"code": code})[0] == 200
        assert http(port, "GET", "/v1/status")[1]["backlog"] >= 6  # 3 events + 3 statuses
        proc.send_signal(signal.SIGKILL)  # crash while the broker is away
        proc.wait(10)
        proc = start_agent_process(config, KIOSK, state, port)
        more = ["SCANNER_ERROR", "TEMP_HIGH"]
        for code in more:
            assert http(port, "POST", "/v1/fault", {"code": code})[0] == 200
        assert http(port, "POST", "/v1/fault", {"code": "DOOR_OPEN", "clear": True})[0] == 200
        broker.start()
        assert wait_until(lambda: http(port, "GET", "/v1/status")[1]["backlog"] == 0, 30)
        want = [
            ("fault_raised", "COIN_HOPPER_EMPTY"),
            *[("fault_raised", c) for c in codes + more],
            ("fault_cleared", "DOOR_OPEN"),
        ]
        assert rec.wait_for(lambda _: len(rec.of_type("device_event")) >= len(want), timeout=30)
        events = [m for m in rec.of_type("device_event") if isinstance(m, DeviceEvent)]
        assert _events(events) == want
        # every message of the epoch, in order, no gaps, no duplicates. Wills are exempt, and
        # so are retained copies the broker replays when the recorder subscribes again.
        seqs = [m.seq for _, m, retained in rec.pump() if not m.is_will and not retained]
        detail = " ".join(
            f"{t.rsplit('/', 1)[-1][:2]}{json.loads(p).get('seq')}{'R' if r else ''}{'D' if d else ''}"
            for t, p, r, d in rec.log
            if t.startswith("lobbywatch/v1/")
        )
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), detail
        assert len({m.epoch for _, m, _ in rec.pump()}) == 1
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(15)
        rec.close()
