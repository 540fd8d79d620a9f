"""Delivery receipts: the gateway's receipt book (gaps, wills, retained copies, restarts), and end
to end a device agent, the gateway and a hall broker SIGKILLed with what it acknowledged
still in memory: every message the agent numbered reaches the server (the test ingest
receiver) exactly once by (source, epoch, seq). Also the rate-limited quarantine warnings."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from edge.devices.agent import DeviceAgent
from gateway.intake import position, warn_quarantined
from gateway.outbox import Quarantined
from gateway.receipts import Position, ReceiptBook, Standing
from gateway.service import Gateway, GatewaySettings
from lobbywatch.clock import FixedClock
from lobbywatch.config.site import load_site_config
from lobbywatch.logs import RepeatSummary
from lobbywatch.protocol.topics import device_event_topic, device_status_topic, receipt_topic
from lobbywatch.services import Influxd, Mosquitto, free_port, wait_until
from tests.conftest import broker_config
from tests.edge.devices.helpers_devices import EXAMPLE, KIOSK, KIOSK_B, hall
from tests.gateway.helpers_gateway import gateway_settings, running, start_gateway_process
from tests.gateway.helpers_ingest import IngestReceiver

GATEWAY_TOKEN = "lw_gw-chaos-secret"
ADMIN_TOKEN = "lw_admin-chaos-secret"

# --------------------------------------------------------------------------- the receipt book


def _p(seq: int, *, live: bool = True, epoch: int = 0, source: str = "k1") -> Position:
    return Position(source, epoch, seq, live)


def test_receipts_advance_over_contiguous_numbers_only(tmp_path: Path) -> None:
    book = ReceiptBook(tmp_path / "r.sqlite3", resend_every_s=5)
    assert book.record([_p(10), _p(11)], now=0) == [Standing("k1", 0, 11, False)]
    # 13 and 14 arrive, 12 is missing: the receipt stays, and the source is asked to resend
    assert book.record([_p(13), _p(14)], now=1) == [Standing("k1", 0, 11, True)]
    assert book.record([_p(15)], now=2) == []  # asked 1 s ago: not again yet
    assert book.record([_p(16)], now=6) == [Standing("k1", 0, 11, True)]
    assert book.record([_p(12), _p(12)], now=7) == [Standing("k1", 0, 16, False)]
    assert book.record([_p(5)], now=8) == []  # a duplicate changes nothing


def test_a_gap_that_never_fills_is_given_up_after_the_timeout(tmp_path: Path) -> None:
    book = ReceiptBook(tmp_path / "r.sqlite3", gap_timeout_s=60, resend_every_s=1000)
    book.record([_p(0)], now=0)
    assert book.record([_p(2)], now=1) == [Standing("k1", 0, 0, True)]
    assert book.record([_p(3)], now=30) == []
    assert book.record([_p(4)], now=62) == [Standing("k1", 0, 4, False)]


def test_retained_copies_never_start_a_stream_nor_open_a_gap(tmp_path: Path) -> None:
    book = ReceiptBook(tmp_path / "r.sqlite3")
    assert book.record([_p(40, live=False)], now=0) == []
    book.record([_p(7)], now=1)
    assert book.record([_p(40, live=False)], now=2) == []
    assert book.record([_p(8, live=False)], now=3) == [Standing("k1", 0, 8, False)]


def test_committed_numbers_survive_a_restart_and_are_published_again(tmp_path: Path) -> None:
    book = ReceiptBook(tmp_path / "r.sqlite3")
    book.record([_p(3), _p(4, epoch=1), _p(9, source="cam-1")], now=0)
    book.record([_p(5, epoch=1)], now=1)
    book.close()
    again = ReceiptBook(tmp_path / "r.sqlite3")
    # the latest epoch of each source
    assert again.current(resend=True) == [Standing("cam-1", 0, 9, True), Standing("k1", 1, 5, True)]
    assert again.record([_p(6, epoch=1)], now=2) == [Standing("k1", 1, 6, False)]


def test_position_of_a_message_skips_wills_and_what_does_not_say() -> None:
    topic = device_status_topic("h1", "k1")
    body = {"source": "k1", "epoch": 2, "seq": 9, "state": "online"}
    assert position("h1", topic, json.dumps(body).encode(), False) == Position("k1", 2, 9, True)
    assert position("h1", topic, json.dumps(body).encode(), True) == Position("k1", 2, 9, False)
    assert position("h1", topic, json.dumps({**body, "will": True}).encode(), False) is None
    assert position("h1", topic, json.dumps({**body, "source": "k2"}).encode(), False) is None
    assert position("h1", topic, json.dumps({**body, "seq": "9"}).encode(), False) is None
    assert position("h2", topic, json.dumps(body).encode(), False) is None
    assert position("h1", receipt_topic("h1", "k1"), json.dumps(body).encode(), False) is None
    assert position("h1", topic, b"\xff", False) is None


def test_quarantine_warnings_first_of_each_reason_then_one_summary_per_interval() -> None:
    logger = logging.getLogger("lobbywatch.gateway.intake")
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    keep = Keep()
    logger.addHandler(keep)
    t = [0.0]
    try:
        summary = RepeatSummary(interval_s=60, now=lambda: t[0])
        for i in range(5000):
            t[0] = i / 100
            reason = "not_json" if i % 2 else "schema"
            warn_quarantined(summary, Quarantined(i / 100, "t", reason, "bad", b"x"))
        assert len(lines) == 2  # the first of each reason, within the first minute
        t[0] = 61
        summary.flush(logger)
    finally:
        logger.removeHandler(keep)
    assert len(lines) == 4
    held = {r: int(line.split()[0]) for line in lines[2:] for r in ("not_json", "schema") if f"({r})" in line}
    assert held == {"not_json": 2499, "schema": 2499}  # 4998 more, counted by reason


# --------------------------------------------------------------------------- end to end


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A broker that saves to disk as rarely as the shipped configuration (every 30 min)."""
    with Mosquitto(tmp_path / "mosquitto", extra_config=["autosave_interval 1800"]) as b:
        yield b


@contextmanager
def device(site_id: str, broker: Mosquitto, tmp_path: Path, clock: FixedClock) -> Iterator[DeviceAgent]:
    # A fixed clock: one heartbeat at the start, then only the messages the test makes.
    agent = DeviceAgent(
        hall(site_id), KIOSK, state_dir=tmp_path / "agent", broker=broker_config(broker), clock=clock
    ).start()
    try:
        assert wait_until(lambda: agent.connected, 15)
        yield agent
    finally:
        agent.stop(clean=False)


def assert_every_message_once(agent: DeviceAgent, receiver: IngestReceiver, timeout: float = 60) -> None:
    """Every seq the agent handed out, stored once (the receiver dedups), and none kept."""
    want = set(range(agent.outbox.next_seq))

    def stored() -> list[int]:
        return [
            int(m["seq"])
            for m in receiver.stored()
            if m["source"] == KIOSK and m["epoch"] == agent.outbox.epoch and not m.get("will")
        ]

    def done() -> bool:
        return set(stored()) >= want and agent.outbox.backlog() == 0

    assert wait_until(done, timeout), (
        f"lost: {sorted(want - set(stored()))[:20]}, kept: {agent.outbox.backlog()}"
    )
    seqs = stored()
    assert len(seqs) == len(set(seqs)), "stored twice"


@pytest.mark.real
def test_broker_sigkilled_while_the_gateway_is_down_loses_nothing(
    tmp_path: Path, broker: Mosquitto, receiver: IngestReceiver, site_id: str, clock: FixedClock
) -> None:
    settings = gateway_settings(tmp_path, site_id, broker, receiver)
    first = Gateway(settings)
    first.start()
    running_first = True
    try:
        assert wait_until(lambda: first.stats.mqtt_subscribed, 15)
        with device(site_id, broker, tmp_path, clock) as agent:
            assert wait_until(lambda: agent.outbox.keeps_until_receipt, 15), "no receipt arrived"
            assert wait_until(lambda: agent.outbox.backlog() == 0, 15)
            first.stop()
            running_first = False
            _while_the_gateway_is_down(agent, broker, settings, receiver)
    finally:
        if running_first:
            first.stop()


def _while_the_gateway_is_down(
    agent: DeviceAgent, broker: Mosquitto, settings: GatewaySettings, receiver: IngestReceiver
) -> None:
    for _ in range(2000):
        agent.heartbeat()
    # The broker has them all (PUBACK), in memory only; the agent keeps them for a receipt.
    assert wait_until(lambda: agent.outbox.unacked() == 0, 30)
    assert agent.outbox.backlog() >= 2000
    broker.kill()
    broker.start()
    assert wait_until(lambda: agent.connected and agent.counters.connects >= 2, 30)
    with running(settings):
        assert_every_message_once(agent, receiver)


@pytest.mark.real
def test_broker_sigkilled_during_a_burst_loses_nothing(
    tmp_path: Path, broker: Mosquitto, receiver: IngestReceiver, site_id: str, clock: FixedClock
) -> None:
    settings = gateway_settings(tmp_path, site_id, broker, receiver)
    with running(settings), device(site_id, broker, tmp_path, clock) as agent:
        assert wait_until(lambda: agent.outbox.keeps_until_receipt, 15), "no receipt arrived"
        stop = threading.Event()

        def burst() -> None:
            for _ in range(3000):
                if stop.is_set():
                    return
                agent.heartbeat()

        writer = threading.Thread(target=burst)
        writer.start()
        try:
            assert wait_until(lambda: receiver.stored_count() >= 500, 30)
            broker.kill()
            broker.start()
        finally:
            writer.join(60)
            stop.set()
        assert agent.outbox.next_seq > 3000
        assert_every_message_once(agent, receiver, timeout=90)


@pytest.mark.real
def test_an_agent_that_ignores_receipts_deletes_on_puback(
    tmp_path: Path, broker: Mosquitto, receiver: IngestReceiver, site_id: str, clock: FixedClock
) -> None:
    settings = gateway_settings(tmp_path, site_id, broker, receiver)
    agent = DeviceAgent(
        hall(site_id),
        KIOSK,
        state_dir=tmp_path / "agent",
        broker=broker_config(broker),
        clock=clock,
        receipts="off",
    ).start()
    try:
        with running(settings):
            for _ in range(20):
                agent.heartbeat()
            assert wait_until(lambda: agent.outbox.backlog() == 0, 15)
            assert wait_until(lambda: receiver.stored_count() >= 21, 15)
            assert not agent.outbox.keeps_until_receipt
            assert agent.counters.receipts == 0
    finally:
        agent.stop(clean=False)


@pytest.mark.real
def test_a_flood_of_bad_payloads_logs_a_few_lines(
    tmp_path: Path,
    broker: Mosquitto,
    receiver: IngestReceiver,
    site_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = gateway_settings(tmp_path, site_id, broker, receiver)
    caplog.set_level(logging.WARNING, logger="lobbywatch.gateway.intake")
    with running(settings) as gw:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"flood-{site_id}")
        client.connect(broker.host, broker.port)
        client.loop_start()
        try:
            for i in range(5000):
                client.publish(device_event_topic(site_id, "kiosk-x"), b"not json %d" % i, qos=1)
            assert wait_until(lambda: gw.stats.quarantined_here >= 5000, 60)
        finally:
            client.loop_stop()
            client.disconnect()
    lines = [r.getMessage() for r in caplog.records if "quarantined" in r.getMessage()]
    assert 1 <= len(lines) <= 3, lines


# --------------------------------------------------------------------------- chaos


def _server_process(tmp_path: Path, site_id: str, influxd: Influxd, port: int) -> subprocess.Popen[bytes]:
    """``lobbywatch server run`` on ``port`` (SQLite, ``influxd``), with a gateway token."""
    hall = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    hall["site"] = site_id
    hall.pop("notifications", None)
    (tmp_path / "server-hall.yaml").write_text(yaml.safe_dump(hall, allow_unicode=True), encoding="utf-8")
    (tmp_path / "gateway.token").write_text(GATEWAY_TOKEN + "\n")
    (tmp_path / "admin.token").write_text(ADMIN_TOKEN + "\n")
    config = tmp_path / "server.yaml"
    config.write_text(
        f"""
listen: {{host: 127.0.0.1, port: {port}}}
sql_url: sqlite:///server.sqlite3
influx: {{url: {influxd.url}, database: chaos, flush_interval_s: 0.2}}
halls: [server-hall.yaml]
bootstrap_tokens:
  - {{name: ops, role: admin, token_file: admin.token}}
  - {{name: gw, role: gateway, token_file: gateway.token, sites: [{site_id}]}}
"""
    )
    with (tmp_path / "server.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "system", "server", "run", "--config", str(config)],
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    assert wait_until(lambda: _get(f"http://127.0.0.1:{port}/healthz") is not None, 60), (
        tmp_path / "server.log"
    ).read_text()[-3000:]
    return proc


def _get(url: str) -> Any:
    try:
        r = httpx.get(url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=2)
    except httpx.HTTPError:
        return None
    return r.json() if r.status_code == 200 else None


def _kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


@pytest.mark.slow
@pytest.mark.real
def test_chaos_every_message_of_every_agent_reaches_the_server_once(
    tmp_path: Path, broker: Mosquitto, fresh_influxd: Influxd, site_id: str
) -> None:
    """Gateway, server, influxd and the hall broker (gateway down, then mid-burst) each killed
    once while two agents stream: the server ends with every (source, epoch, seq), once."""
    port = free_port()
    server = _server_process(tmp_path, site_id, fresh_influxd, port)
    health_port = free_port()
    hall = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    hall["site"] = site_id
    hall["broker"] = {"host": broker.host, "port": broker.port, "keepalive_s": 5}
    hall["gateway"] = {
        "id": "gw1",
        "server_url": f"http://127.0.0.1:{port}",
        "token_file": str(tmp_path / "gateway.token"),
        "outbox": str(tmp_path / "outbox.sqlite3"),
        "batch_age_s": 0.02,
        "health_port": health_port,
        "request_timeout_s": 5,
        "retry_initial_s": 0.05,
        "retry_max_s": 0.5,
    }
    config = tmp_path / "gateway-hall.yaml"
    config.write_text(yaml.safe_dump(hall, allow_unicode=True), encoding="utf-8")
    glog = tmp_path / "gateway.log"
    gateway = start_gateway_process(config, glog, health_port)
    hall_cfg = load_site_config(config)
    agents = [
        DeviceAgent(
            hall_cfg, dev, state_dir=tmp_path / dev, broker=broker_config(broker), heartbeat_s=1
        ).start()
        for dev in (KIOSK, KIOSK_B)
    ]
    stop = threading.Event()

    def stream(agent: DeviceAgent) -> None:
        while not stop.wait(0.01):
            agent.heartbeat()

    writers = [threading.Thread(target=stream, args=(a,)) for a in agents]
    try:
        assert wait_until(lambda: all(a.outbox.keeps_until_receipt for a in agents), 30)
        for w in writers:
            w.start()
        time.sleep(2)
        _kill(gateway)
        time.sleep(2)
        gateway = start_gateway_process(config, glog, health_port)
        time.sleep(2)
        _kill(server)
        time.sleep(3)
        server = _server_process(tmp_path, site_id, fresh_influxd, port)
        time.sleep(2)
        fresh_influxd.kill()
        time.sleep(2)
        fresh_influxd.start()
        time.sleep(2)
        _kill(gateway)  # the broker dies while the gateway is down
        time.sleep(2)
        at_risk = sum(a.outbox.backlog() - a.outbox.unacked() for a in agents)
        assert at_risk > 0  # acknowledged by the broker, in its memory only, kept by the agents
        broker.kill()
        broker.start()
        time.sleep(2)
        gateway = start_gateway_process(config, glog, health_port)
        time.sleep(2)
        broker.kill()  # and again mid-stream, the gateway up
        broker.start()
        time.sleep(3)
    finally:
        stop.set()
        for w in writers:
            if w.is_alive():
                w.join(10)

    def streams() -> dict[str, dict[str, Any]]:
        got = _get(f"http://127.0.0.1:{port}/api/v1/sites/{site_id}/streams") or []
        return {s["source"]: s for s in got}

    def complete() -> bool:
        got = streams()
        return all(
            a.device.id in got
            and got[a.device.id]["highest_seq"] >= a.outbox.next_seq - 1
            and got[a.device.id]["missing"] == 0
            and a.outbox.backlog() == 0
            for a in agents
        )

    try:
        done = wait_until(complete, 90)
        got = streams()
        assert done, f"{[(a.device.id, a.outbox.next_seq, a.outbox.backlog()) for a in agents]} {got}"
        for a in agents:
            s = got[a.device.id]
            assert s["epoch"] == a.outbox.epoch, s
            assert s["missing"] == 0, s
            # every seq up to the highest, once each (duplicates are not received); read from the
            # same answer, since an agent may send its next heartbeat after ``complete`` held
            assert s["received"] == s["highest_seq"] + 1, s
        print(f"broker SIGKILLed with {at_risk} acknowledged messages not yet at the gateway")
    finally:
        for a in agents:
            a.stop(clean=False)
        gateway.terminate()
        gateway.wait(20)
        server.terminate()
        server.wait(30)
