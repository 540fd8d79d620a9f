"""Shared helpers for the device tests: a test hall, a persistent MQTT recorder, the agent CLI."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from lobbywatch.config.site import SiteConfig, load_site_config
from lobbywatch.protocol.codec import decode
from lobbywatch.protocol.messages import Envelope
from lobbywatch.services import wait_until

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "deploy" / "examples" / "telecom-hall.yaml"
KIOSK = "kiosk-topup-1"
KIOSK_B = "kiosk-bill-1"
TERMINAL = "term-c1"


def hall(site_id: str) -> SiteConfig:
    """The example telecom hall under the test's own site id."""
    return load_site_config(EXAMPLE).model_copy(update={"site": site_id})


def write_hall(tmp_path: Path, site_id: str, port: int) -> Path:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["site"] = site_id
    data["broker"] = {"host": "127.0.0.1", "port": port, "keepalive_s": 5}
    path = tmp_path / "hall.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


@dataclass
class Recorder:
    """An MQTT subscriber that records decoded messages; optionally a persistent session."""

    client: mqtt.Client
    raw: queue.Queue[tuple[str, bytes, bool]] = field(default_factory=queue.Queue)
    messages: list[tuple[str, Envelope, bool]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    log: list[tuple[str, bytes, bool, bool]] = field(default_factory=list)  # topic, payload, retain, dup

    def pump(self) -> list[tuple[str, Envelope, bool]]:
        while True:
            try:
                topic, payload, retain = self.raw.get_nowait()
            except queue.Empty:
                break
            if topic.startswith("lobbywatch/v1/"):
                self.messages.append((topic, decode(payload, topic=topic), retain))
        return self.messages

    def wait_for(self, check: Any, timeout: float = 15.0) -> bool:
        return wait_until(lambda: bool(check(self.pump())), timeout)

    def of_type(self, kind: str) -> list[Envelope]:
        return [m for _, m, _ in self.pump() if m.type == kind]

    def sync(self, timeout: float = 10.0) -> None:
        """Round trip through the broker: it has now processed our acks of earlier messages."""
        marker = f"lobbywatch-test/sync/{uuid.uuid4().hex}"
        got = threading.Event()
        self.client.message_callback_add(marker, lambda *_: got.set())
        self.client.subscribe(marker, qos=1)
        self.client.publish(marker, b"x", qos=1)
        assert got.wait(timeout), "recorder sync did not come back"

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def recorder(
    port: int,
    *filters: str,
    persistent: bool = False,
    username: str | None = None,
    password: str | None = None,
) -> Recorder:
    client_id = f"rec-{uuid.uuid4().hex[:8]}"
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=not persistent)
    if username:
        client.username_pw_set(username, password)
    rec = Recorder(client)
    subscribed = threading.Event()

    def on_connect(c: mqtt.Client, *_: object) -> None:
        for f in filters:
            c.subscribe(f, qos=1)

    def on_subscribe(*_: object) -> None:
        subscribed.set()

    def on_message(_c: mqtt.Client, _u: object, m: mqtt.MQTTMessage) -> None:
        rec.raw.put((m.topic, bytes(m.payload), bool(m.retain)))
        rec.log.append((m.topic, bytes(m.payload), bool(m.retain), bool(m.dup)))

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.reconnect_delay_set(1, 1)
    client.connect("127.0.0.1", port, keepalive=5)
    client.loop_start()
    assert subscribed.wait(10), "recorder could not subscribe"
    return rec


def start_agent_process(
    config: Path, device: str, state_dir: Path, http_port: int, *extra: str
) -> subprocess.Popen[bytes]:
    """``lobbywatch edge device`` as a child process."""
    cmd = [
        sys.executable,
        "-m",
        "system",
        "edge",
        "device",
        "--config",
        str(config),
        "--device",
        device,
        "--state-dir",
        str(state_dir),
        "--http-port",
        str(http_port),
        *extra,
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert wait_until(lambda: http(http_port, "GET", "/v1/status")[0] == 200, 30), "agent did not start"
    return proc


def http(port: int, method: str, path: str, body: bytes | dict[str, Any] | None = None) -> tuple[int, Any]:
    """Call the agent's local API; returns (status, JSON body)."""
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"} if data is not None else {},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
