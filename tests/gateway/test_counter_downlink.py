"""Counter states both ways through the real gateway and a hall broker held to the generated
ACL: a state set on the counter display (the server's API) reaches the counter's terminal and
the ticket system, retained; the terminal's own report and the ticket system's events come
back and change the counter's state on the server (docs/protocol.md, "Counter states")."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from edge.devices.credentials import (
    GATEWAY_USER,
    GeneratedCredentials,
    auth_config,
    device_user,
    ticket_user,
    write_credentials,
)
from gateway.service import Gateway, GatewaySettings
from lobbywatch.clock import SystemClock
from lobbywatch.config.site import BrokerConfig
from lobbywatch.protocol.codec import decode, encode
from lobbywatch.protocol.messages import CounterState, CounterStateSet, Envelope
from lobbywatch.protocol.sequence import Stamper
from lobbywatch.protocol.tickets import TicketEvent
from lobbywatch.protocol.topics import counter_downlink_topic, topic_for
from lobbywatch.services import Mosquitto, free_port, wait_until
from server.app import create_app
from server.context import ServerContext
from server.core.config import InfluxConfig, ServerSettings
from server.core.security import create_token
from tests.edge.devices.helpers_devices import hall
from tests.gateway.helpers_downlink import server_hall
from tests.helpers_asgi import ThreadedAsgiServer

pytestmark = pytest.mark.real

TERMINAL = "term-c2"  # the example hall's counter terminal of counter c2


@dataclass
class Central:
    url: str
    ctx: ServerContext
    tokens: dict[str, str]

    def call(self, method: str, path: str, body: dict[str, str] | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens['manager']}"}
        return httpx.request(method, self.url + path, headers=headers, json=body, timeout=10)

    def counter_state(self, site: str, counter: str) -> str | None:
        answer = self.call("GET", f"/api/v1/sites/{site}/counters/{counter}/display")
        assert answer.status_code == 200, answer.text
        state: str | None = answer.json()["state"]
        return state


@dataclass
class Client:
    """A hall broker client with its own account, recording what it receives."""

    mqtt: mqtt.Client
    got: queue.Queue[tuple[str, bytes, bool]] = field(default_factory=queue.Queue)
    seen: list[tuple[str, Envelope, bool]] = field(default_factory=list)

    def received(self) -> list[tuple[str, Envelope, bool]]:
        while not self.got.empty():
            topic, payload, retain = self.got.get_nowait()
            self.seen.append((topic, decode(payload, topic=topic), retain))
        return self.seen

    def close(self) -> None:
        self.mqtt.loop_stop()
        self.mqtt.disconnect()


def connect(broker: Mosquitto, creds: GeneratedCredentials, user: str, *topics: str) -> Client:
    client = Client(mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user))
    client.mqtt.username_pw_set(user, creds.passwords[user])
    ready = threading.Event()

    def on_connect(c: mqtt.Client, *_a: object) -> None:
        if topics:
            c.subscribe([(t, 1) for t in topics])
        else:
            ready.set()

    client.mqtt.on_message = lambda _c, _u, m: client.got.put((m.topic, bytes(m.payload), bool(m.retain)))
    client.mqtt.on_connect = on_connect
    client.mqtt.on_subscribe = lambda *_a: ready.set()
    client.mqtt.connect(broker.host, broker.port)
    client.mqtt.loop_start()
    assert ready.wait(10), f"{user} did not connect and subscribe"
    return client


@pytest.fixture
def secured(tmp_path: Path, site_id: str) -> Iterator[tuple[Mosquitto, GeneratedCredentials]]:
    creds = write_credentials(hall(site_id), tmp_path / "creds")
    with Mosquitto(tmp_path / "broker", extra_config=auth_config(creds.password_file, creds.acl_file)) as b:
        yield b, creds


@pytest.fixture
def central(tmp_path: Path, site_id: str) -> Iterator[Central]:
    """The server, in this process on a real port, on the system clock (the gateway checks
    what it forwards against real time)."""
    hall_file = tmp_path / "server-hall.yaml"
    hall_file.write_text(yaml.safe_dump(server_hall(site_id), allow_unicode=True), encoding="utf-8")
    settings = ServerSettings(
        sql_url=f"sqlite:///{tmp_path / 'server.sqlite3'}",
        influx=InfluxConfig(enabled=False),
        halls=[hall_file],
    )
    clock = SystemClock()
    app = create_app(settings, clock)
    server = ThreadedAsgiServer(app, "counter-downlink-server").start()
    ctx: ServerContext = app.state.ctx
    tokens = {}
    with ctx.db.session() as session:
        for role in ("gateway", "manager"):
            _row, token = create_token(session, name=role, role=role, sites=[site_id], created_at=clock.now())
            assert token is not None
            tokens[role] = token
    try:
        yield Central(server.url, ctx, tokens)
    finally:
        server.stop()


@pytest.fixture
def gateway(
    tmp_path: Path, site_id: str, secured: tuple[Mosquitto, GeneratedCredentials], central: Central
) -> Iterator[Gateway]:
    broker, creds = secured
    settings = GatewaySettings(
        site=site_id,
        gateway_id="gw1",
        broker=BrokerConfig(
            host=broker.host,
            port=broker.port,
            keepalive_s=5,
            username=GATEWAY_USER,
            password_file=creds.secrets_dir / f"{GATEWAY_USER}.password",
        ),
        server_url=central.url,
        token=central.tokens["gateway"],
        outbox=tmp_path / "outbox.sqlite3",
        max_disk_bytes=64 * 1024 * 1024,
        batch_age_s=0.02,
        health_port=free_port(),
        request_timeout_s=2.0,
        retry_initial_s=0.05,
        retry_max_s=0.3,
        downlink_wait_s=1.0,
    )
    gw = Gateway(settings)
    gw.start()
    try:
        assert wait_until(lambda: gw.stats.mqtt_subscribed, 15), "gateway did not subscribe"
        yield gw
    finally:
        gw.stop()


def sets(client: Client) -> list[tuple[str, str, bool]]:
    """(counter, state, retained) of every ``counter_state_set`` the client received."""
    return [(m.counter, m.state, r) for _, m, r in client.received() if isinstance(m, CounterStateSet)]


def test_a_state_set_on_the_counter_display_reaches_the_terminal_and_the_ticket_system(
    site_id: str, secured: tuple[Mosquitto, GeneratedCredentials], central: Central, gateway: Gateway
) -> None:
    broker, creds = secured
    root = f"lobbywatch/v1/{site_id}"
    terminal = connect(broker, creds, device_user(TERMINAL), f"{root}/#")  # the ACL decides what it gets
    tix = connect(broker, creds, ticket_user("qms"), f"{root}/#")
    try:
        answer = central.call("POST", f"/api/v1/sites/{site_id}/counters/c2/state", {"state": "learning"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["state"] == "learning"
        assert central.call(
            "POST", f"/api/v1/sites/{site_id}/counters/c1/state", {"state": "away"}
        ).is_success

        assert wait_until(lambda: len(sets(tix)) == 2, 20), gateway.snapshot()
        assert sets(tix) == [("c2", "learning", False), ("c1", "away", False)]
        # The terminal reads its own counter's state, never another counter's (the ACL).
        assert wait_until(lambda: sets(terminal) == [("c2", "learning", False)], 10), terminal.seen
        [(topic, message, _)] = [s for s in terminal.received() if isinstance(s[1], CounterStateSet)]
        assert topic == counter_downlink_topic(site_id, "c2")
        assert message.source == "server-counters"
        assert wait_until(lambda: central.ctx.downlink.pending(site_id) == 0, 10)
        assert gateway.outbox.quarantine_rows() == []  # its own publishes are downlinks: ignored

        # Retained: a terminal that connects later gets the state at once.
        terminal.close()
        terminal = connect(broker, creds, device_user(TERMINAL), counter_downlink_topic(site_id, "c2"))
        assert wait_until(lambda: sets(terminal) == [("c2", "learning", True)], 10), terminal.seen
    finally:
        terminal.close()
        tix.close()


def test_the_terminal_and_the_ticket_system_change_the_counter_state_back(
    site_id: str, secured: tuple[Mosquitto, GeneratedCredentials], central: Central, gateway: Gateway
) -> None:
    """The reverse direction, end to end: the terminal's own ``counter_state`` overrides the
    state set on the display; the ticket system's next event at the counter makes it serving."""
    broker, creds = secured
    clock = SystemClock()
    assert central.call(
        "POST", f"/api/v1/sites/{site_id}/counters/c2/state", {"state": "learning"}
    ).is_success
    assert central.counter_state(site_id, "c2") == "learning"
    terminal = connect(broker, creds, device_user(TERMINAL))
    tix = connect(broker, creds, ticket_user("qms"))
    try:
        report = Stamper(site_id, TERMINAL, clock=clock).make(
            CounterState, counter="c2", state="away", since=clock.now()
        )
        terminal.mqtt.publish(topic_for(report), encode(report), qos=1, retain=True)
        assert wait_until(lambda: central.counter_state(site_id, "c2") == "away", 20), gateway.snapshot()

        now = datetime.now(UTC)
        called = Stamper(site_id, "qms", clock=clock).make(
            TicketEvent,
            event="called",
            ticket="B007",
            business="sim_replacement",
            issued_at=now,
            counter="c2",
        )
        tix.mqtt.publish(topic_for(called), encode(called), qos=1)
        assert wait_until(lambda: central.counter_state(site_id, "c2") == "serving", 20), gateway.snapshot()
    finally:
        terminal.close()
        tix.close()
