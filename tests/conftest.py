"""Shared fixtures: real servers on free ports, a fixed clock, MQTT helpers; the unit/real split.

Server fixtures are session-scoped for speed (one Mosquitto, one influxd, one PostgreSQL
per run); tests isolate themselves by site id, database name or schema. A test that must
kill or restart a server asks for the function-scoped ``fresh_*`` variant instead.

Every test is either ``real`` (it needs a real part: a service, a subprocess, Chromium, the
detector model) or ``unit`` (pure logic, ``pytest -m unit`` runs them all in under a
minute). ``real`` is derived from the fixtures a test uses (:data:`REAL_FIXTURES`) or written
on the test; ``unit`` is every other test, and a guard fails a ``unit`` test that starts a
process or connects beyond loopback. See CONTRIBUTING.md ("Unit and real tests").
"""

from __future__ import annotations

import ipaddress
import multiprocessing.util
import os
import queue
import socket
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from lobbywatch.clock import FixedClock
from lobbywatch.config.site import BrokerConfig
from lobbywatch.services import Influxd, Mosquitto, Postgres, wait_until
from tests.helpers_nats import nats_cluster, nats_server  # noqa: F401 (fixtures)
from tests.helpers_prometheus import prometheus  # noqa: F401  (the fixture, registered here)

EXAMPLES = Path(__file__).resolve().parents[1] / "deploy" / "examples"


@pytest.fixture
def clock() -> FixedClock:
    """A clock fixed at a Monday morning in a Shanghai hall (01:30 UTC = 09:30 local)."""
    return FixedClock.at("2026-11-23T01:30:00Z")


@pytest.fixture
def site_id() -> str:
    """A site id unique to the test, so tests sharing a broker do not see each other."""
    return f"t{uuid.uuid4().hex[:10]}"


# --------------------------------------------------------------------------- Mosquitto


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    with Mosquitto(tmp_path_factory.mktemp("mosquitto")) as broker:
        yield broker


@pytest.fixture
def fresh_mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A broker of the test's own, free to be killed and restarted."""
    with Mosquitto(tmp_path / "mosquitto") as broker:
        yield broker


def broker_config(broker: Mosquitto) -> BrokerConfig:
    return BrokerConfig(host=broker.host, port=broker.port, keepalive_s=5)


@pytest.fixture
def broker_cfg(mosquitto: Mosquitto) -> BrokerConfig:
    """Connection settings for the shared test broker."""
    return broker_config(mosquitto)


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    qos: int


@dataclass
class MqttProbe:
    """A subscriber that records everything on its filters, for assertions."""

    client: mqtt.Client
    messages: queue.Queue[Received] = field(default_factory=queue.Queue)
    seen: list[Received] = field(default_factory=list)

    def get(self, timeout: float = 10.0, topic: str | None = None) -> Received:
        """Next message (on ``topic`` when given); fails the test after ``timeout`` seconds."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no MQTT message on {topic or 'any topic'} within {timeout}s")
            try:
                msg = self.messages.get(timeout=remaining)
            except queue.Empty:
                continue
            self.seen.append(msg)
            if topic is None or msg.topic == topic:
                return msg

    def drain(self) -> list[Received]:
        out: list[Received] = []
        while True:
            try:
                msg = self.messages.get_nowait()
            except queue.Empty:
                return out
            self.seen.append(msg)
            out.append(msg)


@pytest.fixture
def mqtt_probe(mosquitto: Mosquitto) -> Iterator[Callable[..., MqttProbe]]:
    """Factory: ``mqtt_probe("lobbywatch/v1/site/#")`` returns a subscribed probe."""
    clients: list[mqtt.Client] = []

    def make(*filters: str, broker: Mosquitto | None = None) -> MqttProbe:
        b = broker or mosquitto
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{uuid.uuid4().hex[:8]}")
        probe = MqttProbe(client)
        subscribed = threading.Event()

        def on_connect(c: mqtt.Client, *_: object) -> None:
            for f in filters:
                c.subscribe(f, qos=1)
            subscribed.set()

        def on_message(_c: mqtt.Client, _u: object, m: mqtt.MQTTMessage) -> None:
            probe.messages.put(Received(m.topic, bytes(m.payload), bool(m.retain), m.qos))

        client.on_connect = on_connect
        client.on_message = on_message
        client.connect(b.host, b.port)
        client.loop_start()
        assert subscribed.wait(10), "probe could not connect to the broker"
        # SUBACK is not awaited by on_connect; a round trip through the broker guarantees it.
        marker = f"lobbywatch/probe-sync/{uuid.uuid4().hex}"
        got = threading.Event()
        client.message_callback_add(marker, lambda *_: got.set())
        client.subscribe(marker, qos=1)
        client.publish(marker, b"x", qos=1)
        assert got.wait(10), "probe subscription did not settle"
        clients.append(client)
        return probe

    yield make
    for c in clients:
        c.loop_stop()
        c.disconnect()


# --------------------------------------------------------------------------- InfluxDB


@pytest.fixture(scope="session")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Influxd]:
    with Influxd(tmp_path_factory.mktemp("influxd")) as server:
        yield server


@pytest.fixture
def fresh_influxd(tmp_path: Path) -> Iterator[Influxd]:
    with Influxd(tmp_path / "influxd") as server:
        yield server


@pytest.fixture
def influx_db(influxd: Influxd) -> Iterator[str]:
    """A fresh, empty database name on the shared influxd."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    influxd.query(f'CREATE DATABASE "{name}"')
    yield name
    influxd.query(f'DROP DATABASE "{name}"')


# --------------------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    with Postgres(tmp_path_factory.mktemp("postgres")) as server:
        yield server


@pytest.fixture
def postgres_url(postgres: Postgres) -> str:
    """SQLAlchemy URL of a fresh, empty database on the shared PostgreSQL."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(
        host=postgres.host,
        port=postgres.port,
        user=postgres.user,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://{postgres.user}@{postgres.host}:{postgres.port}/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each SQL test runs twice: on an SQLite file and on the real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'lobbywatch.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


__all__ = ["MqttProbe", "Received", "broker_config", "wait_until"]


# --------------------------------------------------------------------------- Chromium

#: Flags for a headless Chromium on a machine with no network beyond loopback.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch_chromium(playwright: Any) -> Any:
    """Debian's Chromium driven by Playwright (never a downloaded browser build)."""
    from lobbywatch.services import find_binary

    return playwright.chromium.launch(executable_path=find_binary("chromium", "chromium"), args=CHROMIUM_ARGS)


# --------------------------------------------------------------------------- unit / real

#: Fixtures that start real parts: a test using one of them, even through other fixtures
#: (``broker_cfg``, ``mqtt_probe``, ``influx_db``, ``postgres_url``, ``page``, ``live_server``,
#: ``server``...), is ``real``. ``make_server`` (tests/server/conftest.py) starts the app, whose
#: ingest runs in helper processes. A new fixture that starts a service or a process either
#: builds on one of these or is added here (the unit guard below fails it until it is); so is
#: the detector model (`onnx_model`), which the guard cannot see but costs seconds per test.
REAL_FIXTURES = frozenset(
    {
        "mosquitto",
        "fresh_mosquitto",
        "influxd",
        "fresh_influxd",
        "postgres",
        "nats_server",
        "nats_cluster",
        "browser",
        "make_server",
        "prometheus",  # tests/helpers_prometheus.py
        "onnx_model",  # the detector model: seconds per test
    }
)

#: Parameters that reach a real service through ``request.getfixturevalue`` (invisible in the
#: fixture closure): ``sql_url[postgresql]`` is real, ``sql_url[sqlite]`` is not.
REAL_PARAMS = {"sql_url": "postgresql"}


def is_real(item: pytest.Item) -> bool:
    """Whether ``item`` is marked ``real`` or uses a real service through its fixtures."""
    if item.get_closest_marker("real") is not None:
        return True
    if REAL_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return True
    params: dict[str, Any] = getattr(getattr(item, "callspec", None), "params", {})
    return any(params.get(name) == value for name, value in REAL_PARAMS.items())


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every collected test (doctests included) ``real`` or ``unit``, never both; a pure
    test marked ``slow`` (a long simulation) is neither, so ``-m unit`` stays under a minute."""
    for item in items:
        if is_real(item):
            if item.get_closest_marker("unit") is not None:
                raise pytest.UsageError(f"{item.nodeid} is real: unit is derived, never written by hand")
            item.add_marker(pytest.mark.real)
        elif item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.unit)


def _is_loopback(address: object) -> bool:
    """Whether a socket address stays on this machine (AF_UNIX paths and loopback hosts)."""
    if not isinstance(address, tuple):
        return True
    host = str(address[0])
    if host == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False  # a host name to resolve: network
    return ip.is_loopback or ip.is_unspecified


@pytest.fixture(autouse=True)
def _unit_guard(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """In a ``unit`` test: starting a process or connecting beyond loopback fails the test.

    The attempt raises, and is also recorded so that the test fails even where the code under
    test swallows the error. Threads already running (a real fixture's) are left alone.
    """
    if request.node.get_closest_marker("unit") is None:
        yield
        return
    earlier = set(threading.enumerate()) - {threading.main_thread()}
    caught: list[str] = []

    def refuse(what: str) -> None:
        if threading.current_thread() in earlier:
            return
        caught.append(what)
        raise RuntimeError(f"a unit test may not {what}: mark it real (see CONTRIBUTING.md)")

    def guard(owner: object, name: str, what: str) -> None:
        original = getattr(owner, name)

        def guarded(*args: Any, **kwargs: Any) -> Any:
            refuse(what)
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, guarded)

    def guard_connect(name: str) -> None:
        original = getattr(socket.socket, name)

        def connect(sock: socket.socket, address: Any) -> Any:
            if not _is_loopback(address):
                refuse(f"connect to {address!r}")
            return original(sock, address)

        monkeypatch.setattr(socket.socket, name, connect)

    guard(subprocess.Popen, "_execute_child", "start a subprocess")
    guard(multiprocessing.util, "spawnv_passfds", "start a process")
    for name in ("fork", "system", "posix_spawn", "posix_spawnp"):
        guard(os, name, f"start a process (os.{name})")
    guard_connect("connect")
    guard_connect("connect_ex")
    yield
    assert not caught, f"a unit test may not {caught[0]}: mark it real (see CONTRIBUTING.md)"
