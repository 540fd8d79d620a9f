"""Running a gateway in the test process against a broker and the test ingest server."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gateway.service import Gateway, GatewaySettings
from lobbywatch.services import Mosquitto, free_port, wait_until
from tests.conftest import broker_config
from tests.gateway.helpers_ingest import IngestReceiver


def gateway_settings(
    tmp_path: Path, site: str, broker: Mosquitto, receiver: IngestReceiver, **changes: Any
) -> GatewaySettings:
    base = GatewaySettings(
        site=site,
        gateway_id="gw1",
        broker=broker_config(broker),
        server_url=receiver.url,
        token=receiver.token,
        outbox=tmp_path / "outbox.sqlite3",
        max_disk_bytes=64 * 1024 * 1024,
        batch_max=500,
        batch_age_s=0.02,
        health_port=free_port(),
        request_timeout_s=1.0,
        retry_initial_s=0.05,
        retry_max_s=0.3,
    )
    return base.with_(**changes)


@contextmanager
def running(settings: GatewaySettings) -> Iterator[Gateway]:
    gw = Gateway(settings)
    gw.start()
    try:
        assert wait_until(lambda: gw.stats.mqtt_subscribed, 15), "gateway did not subscribe"
        yield gw
    finally:
        gw.stop()


def write_hall_config(
    path: Path,
    site: str,
    broker: Mosquitto,
    receiver: IngestReceiver,
    *,
    outbox: Path,
    health_port: int,
) -> Path:
    """A minimal hall YAML whose ``gateway:`` section points at the test servers."""
    token_file = path.parent / "gateway.token"
    token_file.write_text(receiver.token + "\n")
    path.write_text(
        f"""config_version: 1
site: {site}
name: {{en: Test hall, zh-CN: 测试营业厅}}
opening_hours: [{{days: [mon, tue, wed, thu, fri], open: "09:00", close: "17:00"}}]
broker: {{host: {broker.host}, port: {broker.port}, keepalive_s: 5}}
zones: [{{id: queue-a, kind: queue}}]
gateway:
  id: gw1
  server_url: {receiver.url}
  token_file: {token_file}
  outbox: {outbox}
  batch_max: 500
  batch_age_s: 0.02
  health_port: {health_port}
  request_timeout_s: 2
  retry_initial_s: 0.05
  retry_max_s: 0.5
"""
    )
    return path


ROOT = Path(__file__).resolve().parents[2]


def healthz(port: int) -> dict[str, Any]:
    """The gateway's ``/healthz`` answer."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
        data: dict[str, Any] = json.loads(r.read())
        return data


def start_gateway_process(config: Path, log: Path, health_port: int) -> subprocess.Popen[bytes]:
    """``python -m gateway run --config CONFIG`` as a child, once it is subscribed."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "run", "--config", str(config)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    ok = wait_until(lambda: healthz(health_port)["mqtt_subscribed"] is True, 30)
    assert ok, f"gateway did not come up:\n{log.read_text()[-3000:]}"
    return proc
