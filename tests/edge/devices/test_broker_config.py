"""The generated hall broker configuration, run by a real Mosquitto: it starts as root and as
the mosquitto user, and no credentials can take another client's id."""

from __future__ import annotations

import os
import pwd
import queue
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.devices.credentials import (
    BROKER_GROUP,
    GATEWAY_USER,
    GeneratedCredentials,
    auth_config,
    device_user,
    write_credentials,
)
from lobbywatch.protocol.topics import device_status_topic, site_root
from lobbywatch.services import Mosquitto, find_binary, free_port, wait_until
from tests.edge.devices.helpers_devices import KIOSK, hall

pytestmark = pytest.mark.real
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="starting a broker as another user needs root")


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory the mosquitto user can traverse (pytest's tmp_path is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="lw-broker-"))
    path.chmod(0o755)
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


def _client(user: str, password: str, client_id: str) -> tuple[mqtt.Client, threading.Event, list[object]]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.username_pw_set(user, password)
    connected = threading.Event()
    dropped: list[object] = []

    def on_connect(_c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        if not getattr(reason, "is_failure", False):
            connected.set()

    def on_disconnect(_c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        dropped.append(reason)

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    return client, connected, dropped


def _start_generated(
    creds: GeneratedCredentials, port: int, data: Path, as_user: str
) -> subprocess.Popen[bytes]:
    conf = creds.config_file.read_text()
    conf = conf.replace("listener 1883 127.0.0.1", f"listener {port} 127.0.0.1")
    conf = conf.replace("persistence_location /var/lib/mosquitto/", f"persistence_location {data}/")
    creds.config_file.write_text(conf)
    creds.config_file.chmod(0o644)
    mosquitto = pwd.getpwnam(BROKER_GROUP)
    os.chown(data, mosquitto.pw_uid, mosquitto.pw_gid)
    command = [find_binary("mosquitto", "mosquitto"), "-c", str(creds.config_file)]
    if as_user == "root":
        return subprocess.Popen(command)
    return subprocess.Popen(
        ["setpriv", f"--reuid={as_user}", f"--regid={as_user}", "--clear-groups", *command]
    )


@needs_root
@pytest.mark.parametrize("as_user", ["root", BROKER_GROUP])
def test_generated_config_starts_as_root_and_as_the_mosquitto_user(
    shared_dir: Path, site_id: str, as_user: str
) -> None:
    creds = write_credentials(hall(site_id), shared_dir / "creds")
    (shared_dir / "creds").chmod(0o755)
    data = shared_dir / "data"
    data.mkdir()
    port = free_port()
    proc = _start_generated(creds, port, data, as_user)
    try:
        user = device_user(KIOSK)
        client, connected, _ = _client(user, creds.passwords[user], "kiosk")
        client.connect_async("127.0.0.1", port)
        client.loop_start()
        try:
            assert connected.wait(15), f"the broker started as {as_user} did not admit the device"
            assert proc.poll() is None
        finally:
            client.loop_stop()
            client.disconnect()
    finally:
        proc.terminate()
        proc.wait(10)


def test_device_credentials_cannot_take_the_gateways_client_id(tmp_path: Path, site_id: str) -> None:
    creds = write_credentials(hall(site_id), tmp_path / "creds")
    with Mosquitto(tmp_path / "broker", extra_config=auth_config(creds.password_file, creds.acl_file)) as b:
        gateway, gw_up, gw_dropped = _client(GATEWAY_USER, creds.passwords[GATEWAY_USER], "gateway")
        got: queue.Queue[str] = queue.Queue()
        gateway.on_message = lambda _c, _u, m: got.put(m.topic)
        gateway.connect(b.host, b.port)
        gateway.loop_start()
        user = device_user(KIOSK)
        device, dev_up, _ = _client(user, creds.passwords[user], "gateway")  # the gateway's id
        try:
            assert gw_up.wait(10)
            gateway.subscribe(f"{site_root(site_id)}/#", qos=1)
            device.connect(b.host, b.port)
            device.loop_start()
            assert dev_up.wait(10)
            topic = device_status_topic(site_id, KIOSK)
            device.publish(topic, b"{}", qos=1)
            assert wait_until(lambda: not got.empty(), 10), "the gateway no longer receives"
            assert got.get_nowait() == topic
            assert gw_dropped == [], "the device's connection kicked the gateway off"
        finally:
            for c in (device, gateway):
                c.loop_stop()
                c.disconnect()
