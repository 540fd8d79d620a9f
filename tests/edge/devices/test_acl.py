"""The generated password file and ACL, enforced by a real Mosquitto."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.devices.agent import DeviceAgent
from edge.devices.credentials import (
    GATEWAY_USER,
    GeneratedCredentials,
    auth_config,
    device_user,
    hall_users,
    hash_password,
    ticket_user,
    verify_password,
    write_credentials,
)
from lobbywatch.clock import FixedClock
from lobbywatch.config.site import BrokerConfig
from lobbywatch.protocol.topics import (
    counter_downlink_topic,
    device_downlink_topic,
    device_event_topic,
    device_prefix,
)
from lobbywatch.services import Mosquitto, wait_until
from tests.edge.devices.helpers_devices import KIOSK, KIOSK_B, hall, recorder, write_hall
from tests.helpers_tls import make_certs

ADMIN = "test-admin"


@pytest.fixture
def secured(tmp_path: Path, site_id: str) -> Iterator[tuple[Mosquitto, GeneratedCredentials]]:
    creds = write_credentials(hall(site_id), tmp_path / "creds")
    # a probe with full rights, for the test only: it sees whatever the broker lets through
    admin_pw = "admin-secret"
    with creds.password_file.open("a") as f:
        f.write(f"{ADMIN}:{hash_password(admin_pw)}\n")
    with creds.acl_file.open("a") as f:
        f.write(f"\nuser {ADMIN}\ntopic readwrite #\n")
    creds.passwords[ADMIN] = admin_pw
    extra = auth_config(creds.password_file, creds.acl_file)
    with Mosquitto(tmp_path / "broker", extra_config=extra) as broker:
        yield broker, creds


def _connect(broker: Mosquitto, user: str | None, password: str | None) -> tuple[mqtt.Client, str]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}")
    if user is not None:
        client.username_pw_set(user, password)
    result: list[str] = []
    done = threading.Event()

    def on_connect(_c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        result.append(str(reason))
        done.set()

    client.on_connect = on_connect
    client.connect(broker.host, broker.port)
    client.loop_start()
    assert done.wait(10)
    return client, result[0]


def test_password_hash_format() -> None:
    hashed = hash_password("s3cret", salt=b"0123456789ab")
    assert hashed.startswith("$7$101$")
    assert len(hashed.split("$")) == 5
    assert verify_password("s3cret", hashed)
    assert not verify_password("wrong", hashed)


@pytest.mark.unit
def test_counter_states_set_by_staff_are_read_by_the_terminal_and_the_ticket_system(site_id: str) -> None:
    """A counter terminal reads its own counter's ``downlink/counter/{counter}``; the ticket
    system every counter's; a kiosk none (docs/protocol.md, "Counter states")."""
    users = {u.name: u for u in hall_users(hall(site_id))}
    down = counter_downlink_topic(site_id, "+")
    assert [t for t in users[device_user("term-c2")].read if "/downlink/counter/" in t] == [
        counter_downlink_topic(site_id, "c2")
    ]
    assert down in users[ticket_user("qms")].read
    assert not [t for t in users[device_user(KIOSK)].read if "/downlink/counter/" in t]


@pytest.mark.real
def test_wrong_password_and_anonymous_are_refused(secured: tuple[Mosquitto, GeneratedCredentials]) -> None:
    broker, creds = secured
    for user, password in ((device_user(KIOSK), "wrong"), (None, None), ("nobody", "x")):
        client, reason = _connect(broker, user, password)
        client.loop_stop()
        assert reason in ("Not authorized", "Bad user name or password"), (user, reason)
    client, reason = _connect(broker, device_user(KIOSK), creds.passwords[device_user(KIOSK)])
    assert reason == "Success"
    client.loop_stop()
    client.disconnect()


@pytest.mark.real
def test_device_cannot_publish_as_another_or_read_its_downlink(
    secured: tuple[Mosquitto, GeneratedCredentials], site_id: str
) -> None:
    broker, creds = secured
    pw = creds.passwords
    probe = recorder(broker.port, f"lobbywatch/v1/{site_id}/#", username=ADMIN, password=pw[ADMIN])
    a, reason = _connect(broker, device_user(KIOSK), pw[device_user(KIOSK)])
    assert reason == "Success"
    got_a: list[str] = []
    a.on_message = lambda _c, _u, m: got_a.append(m.topic)
    subscribed = threading.Event()
    a.on_subscribe = lambda *_: subscribed.set()
    a.subscribe([(device_downlink_topic(site_id, KIOSK_B), 1), (device_downlink_topic(site_id, KIOSK), 1)])
    assert subscribed.wait(10)

    # A publishes as B, then as itself on one connection: once A's own message reaches the
    # probe, the earlier forged one would have too, had the broker let it through.
    a.publish(device_event_topic(site_id, KIOSK_B), b'{"forged": true}', qos=1)
    a.publish(f"{device_prefix(site_id, KIOSK_B)}/status", b'{"forged": true}', qos=1, retain=True)
    a.publish(device_event_topic(site_id, KIOSK), b'{"own": true}', qos=1)
    assert wait_until(lambda: any(t == device_event_topic(site_id, KIOSK) for t, *_ in _raw(probe)), 10)
    topics = [t for t, *_ in _raw(probe)]
    assert device_event_topic(site_id, KIOSK_B) not in topics
    assert f"{device_prefix(site_id, KIOSK_B)}/status" not in topics

    # the gateway writes both downlinks (the server has no account); A only ever gets its own
    writer, reason = _connect(broker, GATEWAY_USER, pw[GATEWAY_USER])
    assert reason == "Success"
    writer.publish(device_downlink_topic(site_id, KIOSK_B), b"for-b", qos=1)
    writer.publish(device_downlink_topic(site_id, KIOSK), b"for-a", qos=1)
    assert wait_until(lambda: device_downlink_topic(site_id, KIOSK) in got_a, 10)
    assert device_downlink_topic(site_id, KIOSK_B) not in got_a
    writer.loop_stop()
    writer.disconnect()  # its client id is its user name: the recorder below takes it over

    # a device may not write downlinks, even its own; the gateway reads everything of the site
    gw = recorder(broker.port, f"lobbywatch/v1/{site_id}/#", username=GATEWAY_USER, password=pw[GATEWAY_USER])
    a.publish(device_downlink_topic(site_id, KIOSK), b"self-command", qos=1)
    a.publish(device_event_topic(site_id, KIOSK), b'{"own": 2}', qos=1)
    assert wait_until(lambda: any(p == b'{"own": 2}' for _, p, _ in _raw(gw)), 10)
    assert not any(p == b"self-command" for _, p, _ in _raw(probe))
    a.loop_stop()
    a.disconnect()
    probe.close()
    gw.close()


_seen: dict[int, list[tuple[str, bytes, bool]]] = {}


def _raw(rec: object) -> list[tuple[str, bytes, bool]]:
    """Raw (not decoded) messages a recorder got so far; these tests publish non-protocol bytes."""
    from tests.edge.devices.helpers_devices import Recorder

    assert isinstance(rec, Recorder)
    store = _seen.setdefault(id(rec), [])
    while not rec.raw.empty():
        store.append(rec.raw.get_nowait())
    return store


@pytest.mark.real
def test_agent_runs_with_its_generated_credentials(
    secured: tuple[Mosquitto, GeneratedCredentials], site_id: str, tmp_path: Path
) -> None:
    broker, creds = secured
    user = device_user(KIOSK)
    probe = recorder(
        broker.port, f"lobbywatch/v1/{site_id}/#", username=ADMIN, password=creds.passwords[ADMIN]
    )
    cfg = BrokerConfig(
        host=broker.host,
        port=broker.port,
        username=user,
        password_file=creds.secrets_dir / f"{user}.password",
    )
    agent = DeviceAgent(
        hall(site_id),
        KIOSK,
        state_dir=tmp_path / "st",
        broker=cfg,
        clock=FixedClock.at("2026-11-23T01:30:00Z"),
    ).start()
    try:
        agent.raise_fault("CASH_FULL")
        assert probe.wait_for(lambda _: probe.of_type("device_event"))
        assert agent.wait_drained(10)
    finally:
        agent.stop()
        probe.close()


@pytest.mark.real
def test_generated_broker_config_with_tls_listener(tmp_path: Path, site_id: str) -> None:
    """`deploy mqtt-credentials --tls-dir` writes a mosquitto.conf that Mosquitto runs as is."""
    import subprocess

    from typer.testing import CliRunner

    from lobbywatch.services import find_binary, free_port
    from system.cli import app

    tls_dir = tmp_path / "tls"
    make_certs(tls_dir)
    config = write_hall(tmp_path, site_id, free_port())
    out = tmp_path / "out"
    r = CliRunner().invoke(
        app,
        ["deploy", "mqtt-credentials", "--config", str(config), "--out", str(out), "--tls-dir", str(tls_dir)],
    )
    assert r.exit_code == 0, r.output
    conf = (out / "mosquitto.conf").read_text()
    tls_port = free_port()
    conf = conf.replace("listener 8883", f"listener {tls_port} 127.0.0.1")
    conf = conf.replace("persistence true", "persistence false")
    conf += "user root\n" if os.geteuid() == 0 else ""
    (out / "mosquitto.conf").write_text(conf)
    proc = subprocess.Popen([find_binary("mosquitto", "mosquitto"), "-c", str(out / "mosquitto.conf")])
    try:
        user = device_user(KIOSK)
        password = (out / "secrets" / f"{user}.password").read_text().strip()
        cfg = BrokerConfig(
            host="127.0.0.1", port=tls_port, tls=True, ca_file=tls_dir / "ca.crt", username=user
        )
        assert wait_until(lambda: _tls_connects(cfg, password), 15), (
            "TLS connection with device credentials failed"
        )
        assert not _tls_connects(cfg, "wrong-password")
    finally:
        proc.terminate()
        proc.wait(10)


def _tls_connects(cfg: BrokerConfig, password: str) -> bool:
    from lobbywatch.mqtt import connect_and_wait, make_client

    client = make_client(f"tls-{uuid.uuid4().hex[:8]}", cfg, password=password)
    try:
        connect_and_wait(client, cfg, timeout=5)
    except ConnectionError:
        return False
    client.loop_stop()
    client.disconnect()
    return True


def test_reference_broker_config_is_current() -> None:
    from edge.devices.credentials import TlsFiles, render_broker_config
    from tests.edge.devices.helpers_devices import ROOT

    d = Path("/etc/mosquitto/lobbywatch")
    tls = TlsFiles(d / "tls/ca.crt", d / "tls/server.crt", d / "tls/server.key")
    want = render_broker_config(d / "passwd", d / "acl", tls=tls, websocket_port=9001)
    assert (ROOT / "deploy" / "mosquitto" / "mosquitto.conf").read_text() == want
