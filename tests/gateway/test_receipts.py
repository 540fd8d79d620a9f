"""Delivery receipts: the gateway's receipt book (gaps, wills, retained copies, restarts), and end
to end a device agent, the gateway and a hall broker SIGKILLed with what it acknowledged
still in memory: every message the agent numbered reaches the server (the test ingest
receiver) exactly once by (source, epoch, seq). Also the rate-limited quarantine warnings."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.devices.agent import DeviceAgent
from gateway.intake import position
from gateway.outbox import Quarantined
from gateway.quarantine_log import QuarantineLog
from gateway.receipts import Position, ReceiptBook, Standing
from gateway.service import Gateway, GatewaySettings
from lobbywatch.clock import FixedClock
from lobbywatch.protocol.topics import device_event_topic, device_status_topic, receipt_topic
from lobbywatch.services import Mosquitto, wait_until
from tests.conftest import broker_config
from tests.edge.devices.helpers_devices import KIOSK, hall
from tests.gateway.helpers_gateway import gateway_settings, running
from tests.gateway.helpers_ingest import IngestReceiver

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
    logger = logging.getLogger("test.quarantine")
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    logger.addHandler(Keep())
    try:
        qlog = QuarantineLog(logger, interval_s=60)
        for i in range(5000):
            reason = "not_json" if i % 2 else "schema"
            qlog.note(Quarantined(i / 100, "t", reason, "bad", b"x"), now=i / 100)
            qlog.flush(now=i / 100)
        assert len(lines) == 2  # the first of each reason, within the first minute
        qlog.flush(now=61)
    finally:
        logger.handlers.clear()
    assert len(lines) == 3
    assert "4998 more" in lines[2]
    assert "not_json: 2499, schema: 2499" in lines[2]


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
