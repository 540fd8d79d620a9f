"""Delivery receipts end to end: a device agent, the gateway and a hall broker SIGKILLed with
what it acknowledged still in memory. Every message the agent numbered reaches the server
(the test ingest receiver) exactly once by (source, epoch, seq)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from edge.devices.agent import DeviceAgent
from lobbywatch.clock import FixedClock
from lobbywatch.services import Mosquitto, wait_until
from tests.conftest import broker_config
from tests.edge.devices.helpers_devices import KIOSK, hall
from tests.gateway.helpers_gateway import gateway_settings, running
from tests.gateway.helpers_ingest import IngestReceiver

pytestmark = pytest.mark.real


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


def test_broker_sigkilled_while_the_gateway_is_down_loses_nothing(
    tmp_path: Path, broker: Mosquitto, receiver: IngestReceiver, site_id: str, clock: FixedClock
) -> None:
    settings = gateway_settings(tmp_path, site_id, broker, receiver)
    with device(site_id, broker, tmp_path, clock) as agent:
        with running(settings):
            assert wait_until(lambda: agent.outbox.keeps_until_receipt, 15), "no receipt arrived"
            assert wait_until(lambda: agent.outbox.backlog() == 0, 15)
        for _ in range(2000):
            agent.heartbeat()
        # The broker has them all (PUBACK), in memory only; the agent keeps them for a receipt.
        assert wait_until(lambda: agent.outbox.unacked() == 0, 30)
        assert agent.outbox.backlog() == 2000
        broker.kill()
        broker.start()
        assert wait_until(lambda: agent.connected and agent.counters.connects >= 2, 30)
        with running(settings):
            assert_every_message_once(agent, receiver)


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
