"""MqttSession against a real Mosquitto: birth, last-will, re-subscribe and re-publish after a
reconnect (the broker restarted, or the connection dropped), clean stop, fresh clients."""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from lobbywatch.backoff import Backoff
from lobbywatch.clock import FixedClock
from lobbywatch.config.site import BrokerConfig
from lobbywatch.mqtt_session import MqttSession
from lobbywatch.protocol.codec import decode
from lobbywatch.protocol.enums import Presence, ZoneKind
from lobbywatch.protocol.messages import CameraStatus, Envelope, ZoneState
from lobbywatch.protocol.sequence import Stamper
from lobbywatch.protocol.topics import device_downlink_topic
from lobbywatch.services import Mosquitto, free_port, wait_until
from tests.conftest import broker_config


@dataclass(frozen=True)
class Seen:
    message: Envelope
    retain: bool


class Recorder:
    """A subscriber with a persistent session: what it misses while the broker restarts is
    queued for it, so it sees every message the session publishes."""

    def __init__(self, broker: Mosquitto, site: str) -> None:
        self.messages: queue.Queue[Seen] = queue.Queue()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"rec-{uuid.uuid4().hex[:8]}", clean_session=False
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        subscribed = threading.Event()
        self.client.on_connect = lambda c, *_: c.subscribe(f"lobbywatch/v1/{site}/camera/#", qos=1)
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = lambda _c, _u, m: self.messages.put(
            Seen(decode(bytes(m.payload), m.topic), bool(m.retain))
        )
        self.client.connect(broker.host, broker.port, keepalive=5)
        self.client.loop_start()
        assert subscribed.wait(10)

    def next(self, match: Callable[[Envelope], bool], timeout: float = 20.0) -> Seen:
        """The next message that matches (those before it are skipped)."""
        while True:
            try:
                seen = self.messages.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no matching message within {timeout}s") from None
            if match(seen.message):
                return seen

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def stamper(site_id: str, clock: FixedClock) -> Stamper:
    return Stamper(site_id, "cam-1", clock=clock)


def _zone(stamper: Stamper, count: int) -> ZoneState:
    return stamper.make(
        ZoneState,
        zone="queue-a",
        kind=ZoneKind.QUEUE,
        occupancy=count,
        count=count,
        queue_length=count,
        entered_total=count,
        exited_total=0,
    )


def _drop(client: mqtt.Client) -> None:
    """The network goes: the socket closes under the client, no DISCONNECT is sent."""
    sock = client.socket()
    assert sock is not None
    sock.close()


def _online(m: Envelope) -> bool:
    return isinstance(m, CameraStatus) and m.state == Presence.ONLINE


def _will(m: Envelope) -> bool:
    return isinstance(m, CameraStatus) and m.will


@pytest.fixture
def recorder(fresh_mosquitto: Mosquitto, site_id: str) -> Iterator[Recorder]:
    r = Recorder(fresh_mosquitto, site_id)
    yield r
    r.close()


def test_broker_restart_brings_birth_subscriptions_and_state_back(
    fresh_mosquitto: Mosquitto, recorder: Recorder, site_id: str, stamper: Stamper
) -> None:
    downlink = device_downlink_topic(site_id, "dev-1")
    received: queue.Queue[bytes] = queue.Queue()
    subacks: list[int] = []
    births: list[CameraStatus] = []

    def birth() -> list[Envelope]:
        births.append(stamper.make(CameraStatus, state=Presence.ONLINE))
        return [births[-1]]

    session = MqttSession(
        "session-under-test",
        broker_config(fresh_mosquitto),
        will=stamper.make(CameraStatus, seq=stamper.next_seq, state=Presence.OFFLINE, will=True),
        birth=birth,
        subscriptions=[(downlink, 1)],
        backoff=Backoff(0.2, 0.5),
        on_message=lambda _c, _u, m: received.put(bytes(m.payload)),
        on_subscribe=lambda *_: subacks.append(1),
    ).start()
    try:
        assert session.wait_connected(10)
        assert recorder.next(_online).message.seq == births[0].seq == 0  # the will's seq
        state = _zone(stamper, 3)
        session.publish_state(state)
        assert recorder.next(lambda m: isinstance(m, ZoneState)).message == state

        fresh_mosquitto.restart()
        assert wait_until(lambda: session.reconnects == 1 and session.connected, 20)
        # Birth again (a new one), then the current state again, live (not from the store).
        second = recorder.next(_online)
        assert second.message == births[1]
        assert second.message.seq > state.seq
        again = recorder.next(lambda m: isinstance(m, ZoneState))
        assert again.message == state
        assert not again.retain
        # The subscription was made again on the new connection.
        assert wait_until(lambda: len(subacks) == 2, 10)
        recorder.client.publish(downlink, b"ping", qos=1).wait_for_publish(5)
        assert received.get(timeout=10) == b"ping"
    finally:
        session.stop()


def test_will_when_the_connection_dies_offline_when_stopped(
    fresh_mosquitto: Mosquitto, recorder: Recorder, stamper: Stamper
) -> None:
    will = stamper.make(CameraStatus, seq=stamper.next_seq, state=Presence.OFFLINE, will=True)
    session = MqttSession(
        "dies",
        broker_config(fresh_mosquitto),
        will=will,
        birth=lambda: [stamper.make(CameraStatus, state=Presence.ONLINE)],
        backoff=Backoff(0.2, 0.5),
    ).start()
    try:
        assert session.wait_connected(10)
        recorder.next(_online)
        _drop(session.client)
        assert recorder.next(_will).message == will
        # The session comes back by itself and says it is online again.
        assert recorder.next(_online).message.seq > will.seq
        assert session.reconnects == 1
        offline = stamper.make(CameraStatus, state=Presence.OFFLINE, reason="stopped")
    finally:
        session.stop(final=offline)
    seen = recorder.next(lambda m: isinstance(m, CameraStatus) and m.state == Presence.OFFLINE)
    assert seen.message == offline  # the final status, not the will
    assert not session.connected


def test_abort_is_like_a_crash(fresh_mosquitto: Mosquitto, recorder: Recorder, stamper: Stamper) -> None:
    will = stamper.make(CameraStatus, seq=stamper.next_seq, state=Presence.OFFLINE, will=True)
    session = MqttSession("crashes", broker_config(fresh_mosquitto), will=will).start()
    assert session.wait_connected(10)
    session.abort()
    assert recorder.next(_will).message == will
    assert not session.connected


def test_fresh_client_and_will_for_every_connection(
    fresh_mosquitto: Mosquitto, recorder: Recorder, stamper: Stamper
) -> None:
    wills: list[CameraStatus] = []
    connected_on: list[mqtt.Client] = []

    def will() -> CameraStatus:
        wills.append(stamper.make(CameraStatus, seq=100 + len(wills), state=Presence.OFFLINE, will=True))
        return wills[-1]

    session = MqttSession(
        "fresh",
        broker_config(fresh_mosquitto),
        will=will,
        client_per_connection=True,
        backoff=Backoff(0.2, 0.5),
        on_connect=lambda c, _present: connected_on.append(c),
    ).start()
    try:
        assert session.wait_connected(10)
        first = session.client
        _drop(first)
        assert recorder.next(_will).message == wills[0]
        assert wait_until(lambda: len(connected_on) == 2 and session.connected, 20)
        assert connected_on == [first, session.client]
        assert session.client is not first
        assert len(wills) == 2  # the second connection carries a will of its own
        session.abort()
        assert recorder.next(_will).message == wills[1]
    finally:
        session.stop()


def test_unreachable_broker_is_reported_not_raised() -> None:
    session = MqttSession(
        "nobody-home", BrokerConfig(host="127.0.0.1", port=free_port()), backoff=Backoff(0.1, 0.2)
    ).start()
    try:
        assert not session.wait_connected(0.5)
        assert session.last_error is not None
        assert session.last_error.startswith("unreachable")
        assert session.connects == 0
    finally:
        session.stop()


@pytest.mark.real
def test_refusal_ends_the_wait_at_once(tmp_path: Path) -> None:
    with Mosquitto(tmp_path / "broker", extra_config=["allow_anonymous false"]) as broker:
        session = MqttSession("anonymous", broker_config(broker), backoff=Backoff(5.0, 5.0)).start()
        try:
            started = time.monotonic()
            assert not session.wait_connected(20)
            assert time.monotonic() - started < 5  # not the whole timeout
            assert session.last_error is not None
            assert session.last_error.startswith("refused")
        finally:
            session.stop()


def test_publish_counts_and_never_raises(broker_cfg: BrokerConfig, stamper: Stamper) -> None:
    session = MqttSession(f"counts-{uuid.uuid4().hex[:8]}", broker_cfg).start()
    try:
        assert session.wait_connected(10)
        info: Any = session.publish(_zone(stamper, 1))
        info.wait_for_publish(5)
        assert session.publish(_zone(stamper, 2), qos=3) is None  # refused by paho: counted
        assert (session.published, session.failed) == (1, 1)
    finally:
        session.stop()
