"""The conformance checker: passes the real agent, fails a hand-made bad publisher."""

from __future__ import annotations

import threading
from pathlib import Path

from typer.testing import CliRunner

from edge.devices.agent import DeviceAgent
from edge.devices.checker import ConformanceChecker, format_report, run_check
from lobbywatch.clock import FixedClock
from lobbywatch.config.site import BrokerConfig
from lobbywatch.mqtt import connect_and_wait, make_client
from lobbywatch.protocol.codec import encode
from lobbywatch.protocol.messages import DeviceHeartbeat, DeviceInfo, DeviceStatus, Receipt
from lobbywatch.protocol.sequence import Stamper
from lobbywatch.protocol.topics import device_heartbeat_topic, device_status_topic, receipt_topic
from lobbywatch.services import Mosquitto, wait_until
from system.cli import app
from tests.edge.devices.helpers_devices import KIOSK, hall

T0 = "2026-11-23T01:30:00Z"


def _agent(site_id: str, broker_cfg: BrokerConfig, tmp_path: Path) -> DeviceAgent:
    agent = DeviceAgent(hall(site_id), KIOSK, state_dir=tmp_path, broker=broker_cfg, heartbeat_s=0.5).start()
    assert wait_until(lambda: agent.connected and agent.outbox.backlog() == 0, 10)
    return agent


def test_agent_passes(site_id: str, broker_cfg: BrokerConfig, tmp_path: Path) -> None:
    agent = _agent(site_id, broker_cfg, tmp_path)
    try:
        agent.raise_fault("PRN_JAM")
        reports = run_check(broker_cfg, site_id, KIOSK, 1.6)
    finally:
        agent.stop()
    assert len(reports) == 1
    assert reports[0].passed, format_report(reports)
    assert reports[0].retained_status
    assert reports[0].heartbeat_s == 0.5
    assert "last-will: not observed" in format_report(reports)


def test_agent_passes_the_will_test(site_id: str, broker_cfg: BrokerConfig, tmp_path: Path) -> None:
    agent = _agent(site_id, broker_cfg, tmp_path)
    result: list[object] = []
    checker = threading.Thread(
        target=lambda: result.append(run_check(broker_cfg, site_id, KIOSK, 5.0, expect_will=True))
    )
    acked = agent.counters.acked
    checker.start()
    # let a few heartbeats pass inside the window, then drop the agent like a crash
    assert wait_until(lambda: agent.counters.acked >= acked + 3, 10)
    agent.stop(clean=False)
    checker.join(20)
    reports = result[0]
    assert isinstance(reports, list)
    assert reports[0].will_seen, format_report(reports)
    assert reports[0].passed, format_report(reports)


def test_pure_checker_names_each_problem() -> None:
    clock = FixedClock.at(T0)
    st = Stamper("h1", "k9", clock=clock, epoch=7)
    info = DeviceInfo(kind="top_up_kiosk", vendor="v", model="m")
    c = ConformanceChecker("h1")
    c.start(0.0)
    birth = st.make(DeviceStatus, state="online", info=info, heartbeat_s=1)
    c.feed(device_status_topic("h1", "k9"), encode(birth), retained=False, now=0.1)
    c.feed(
        device_heartbeat_topic("h1", "k9"), b'{"v": 1, "type": "device_heartbeat"}', retained=False, now=0.2
    )
    hb = st.make(DeviceHeartbeat, uptime_s=1, interval_s=2)
    c.feed(device_heartbeat_topic("h1", "k9"), encode(hb), retained=False, now=0.3)
    st.next_seq += 3
    hb2 = st.make(DeviceHeartbeat, uptime_s=9, interval_s=1)
    c.feed(device_heartbeat_topic("h1", "k9"), encode(hb2), retained=False, now=9.0)
    c.feed(device_heartbeat_topic("h1", "k9"), encode(hb2), retained=False, now=9.1)
    c.feed("lobbywatch/v1/h1/device/k9/telemetry", b"{}", retained=False, now=9.2)
    wrong_topic = st.make(DeviceHeartbeat, uptime_s=9, interval_s=1)
    c.feed(device_status_topic("h1", "k9"), encode(wrong_topic), retained=False, now=9.3)
    (rep,) = c.finish(10.0)
    text = "\n".join(rep.problems)
    assert not rep.passed
    assert "retained status: the broker holds no retained device_status" in text
    assert "schema: message on lobbywatch/v1/h1/device/k9/heartbeat is invalid" in text
    assert "sequence: 3 number(s) skipped before seq 5 (epoch 7)" in text
    assert "sequence: seq 5 (epoch 7) arrived twice" in text
    assert "heartbeat: interval_s 2.0 differs from the status's heartbeat_s 1.0" in text
    assert "heartbeat: 8.7s between heartbeats, promised 1.0s" in text
    assert "topic: lobbywatch/v1/h1/device/k9/telemetry is not a protocol v1 device topic" in text
    assert "belongs on 'lobbywatch/v1/h1/device/k9/heartbeat'" in text


def test_messages_sent_again_when_receipts_allow_it_are_noted_not_failed() -> None:
    st = Stamper("h1", "k9", clock=FixedClock.at(T0), epoch=7)
    gw = Stamper("h1", "gw1", clock=FixedClock.at(T0))
    info = DeviceInfo(kind="top_up_kiosk", vendor="v", model="m")
    hb_topic = device_heartbeat_topic("h1", "k9")
    c = ConformanceChecker("h1")
    c.start(0.0)
    c.feed(
        device_status_topic("h1", "k9"),
        encode(st.make(DeviceStatus, state="online", info=info, heartbeat_s=5)),
        retained=True,
        now=0.1,
    )
    hb = [st.make(DeviceHeartbeat, uptime_s=1, interval_s=5) for _ in range(3)]
    for i, m in enumerate(hb):
        c.feed(hb_topic, encode(m), retained=False, now=1.0 + i)

    def receipt(resend: bool) -> bytes:
        r = gw.make(Receipt, stream_source="k9", stream_epoch=7, committed_seq=1, resend=resend)
        return encode(r)

    c.feed(receipt_topic("h1", "k9"), receipt(True), retained=True, now=4.0)  # a stored copy: asks nothing
    c.feed(hb_topic, encode(hb[2]), retained=False, now=4.1)
    c.feed(receipt_topic("h1", "k9"), receipt(False), retained=False, now=4.2)
    c.feed(hb_topic, encode(hb[2]), retained=False, now=4.3)
    (rep,) = c.finish(5.0)
    assert rep.problems == ["sequence: seq 3 (epoch 7) arrived twice"]
    c.feed(receipt_topic("h1", "k9"), receipt(True), retained=False, now=5.0)  # a live request
    c.feed(hb_topic, encode(hb[1]), retained=False, now=5.1)
    c.feed(hb_topic, encode(hb[2]), retained=False, now=5.2)
    (rep,) = c.finish(6.0)
    assert rep.problems == ["sequence: seq 3 (epoch 7) arrived twice"]
    assert rep.resends == 2
    assert any("2 message(s) sent again" in n for n in rep.notes)


def test_cli_fails_a_bad_publisher(site_id: str, mosquitto: Mosquitto, broker_cfg: BrokerConfig) -> None:
    bad = make_client(f"bad-{site_id}", broker_cfg)
    connect_and_wait(bad, broker_cfg)
    st = Stamper(site_id, "kiosk-x", clock=FixedClock.at(T0))
    # retained status without info nor heartbeat_s, then heartbeats skipping every other number
    bad.publish(
        device_status_topic(site_id, "kiosk-x"),
        encode(st.make(DeviceStatus, state="online")),
        qos=1,
        retain=True,
    ).wait_for_publish(5)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(0.2):
            st.next_seq += 1
            hb = st.make(DeviceHeartbeat, uptime_s=1, interval_s=30)
            bad.publish(device_heartbeat_topic(site_id, "kiosk-x"), encode(hb), qos=1)

    t = threading.Thread(target=beat)
    t.start()
    try:
        result = CliRunner().invoke(
            app, ["protocol", "check", "--broker", mosquitto.url, "--site", site_id, "--seconds", "1.2"]
        )
    finally:
        stop.set()
        t.join()
        bad.loop_stop()
        bad.disconnect()
    assert result.exit_code == 1, result.output
    assert "FAIL" in result.output
    assert "kiosk-x" in result.output
    assert "birth: online status carries no info" in result.output
    assert "birth: online status does not promise a heartbeat_s" in result.output
    assert "number(s) skipped" in result.output
