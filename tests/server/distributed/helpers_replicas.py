"""Two ``lobbywatch server run`` processes on one JetStream stream and one PostgreSQL database,
with different roles (tests/server/distributed/test_replicas.py)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nats as nats_client

from lobbywatch.clock import SystemClock
from lobbywatch.protocol.codec import to_dict
from lobbywatch.protocol.enums import ZoneKind
from lobbywatch.protocol.messages import ZoneState
from lobbywatch.protocol.sequence import Stamper
from lobbywatch.services import free_port, wait_until

ADMIN_TOKEN = "lw_admin-secret-for-tests"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def gateway_token(site: str) -> str:
    """Each hall's gateway has a token of its own (bound to that hall)."""
    return f"lw_gw-secret-{site}"


@dataclass
class Replica:
    name: str
    base: str
    proc: subprocess.Popen[bytes]
    log: Path

    def post(self, site: str, messages: list[dict[str, Any]], sent_at: str | None = None) -> dict[str, Any]:
        body = {
            "gateway": f"gw-{site}",
            "site": site,
            "sent_at": sent_at or SystemClock().now().isoformat(),
            "backlog": {"count": len(messages), "bytes": 100, "oldest_age_s": 0.1},
            "messages": messages,
        }
        auth = {"Authorization": f"Bearer {gateway_token(site)}"}
        resp = httpx.post(f"{self.base}/api/v1/ingest", json=body, headers=auth, timeout=30)
        assert resp.status_code == 200, (resp.status_code, resp.text, self.tail())
        answer: dict[str, Any] = resp.json()
        return answer

    def get(self, path: str) -> Any:
        resp = httpx.get(f"{self.base}{path}", headers=ADMIN, timeout=10)
        assert resp.status_code == 200, (path, resp.status_code, resp.text)
        return resp.json()

    def ack(self, alert_id: str) -> dict[str, Any]:
        resp = httpx.post(
            f"{self.base}/api/v1/alerts/{alert_id}/ack", json={"comment": "on it"}, headers=ADMIN, timeout=10
        )
        assert resp.status_code == 200, (resp.status_code, resp.text, self.tail())
        out: dict[str, Any] = resp.json()
        return out

    def set_counter(self, site: str, counter: str, state: str) -> dict[str, Any]:
        """A counter's state set on its page (as the hall's manager would: the admin token)."""
        path = f"{self.base}/api/v1/sites/{site}/counters/{counter}/state"
        resp = httpx.post(path, json={"state": state}, headers=ADMIN, timeout=30)
        assert resp.status_code == 200, (resp.status_code, resp.text, self.tail())
        view: dict[str, Any] = resp.json()
        return view

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@dataclass
class AlertStream:
    """``GET /api/v1/alerts/stream`` read in a thread: every ``alerts`` event with its arrival time."""

    replica: Replica
    events: list[tuple[float, list[dict[str, Any]]]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        try:
            with httpx.stream(
                "GET",
                f"{self.replica.base}/api/v1/alerts/stream",
                headers=ADMIN,
                timeout=httpx.Timeout(30, read=None),
            ) as resp:
                for line in resp.iter_lines():
                    if self._stop.is_set():
                        return
                    if line.startswith("data:"):
                        self.events.append((time.monotonic(), json.loads(line[5:])["alerts"]))
        except httpx.HTTPError:
            if not self._stop.is_set():  # the server ended the stream while the test still read it
                raise

    def first_with(self, alert_id: str, state: str, after: float) -> float | None:
        """Arrival time of the first event after ``after`` showing the alert in ``state``."""
        for at, alerts in list(self.events):
            if at >= after and any(a["id"] == alert_id and a["state"] == state for a in alerts):
                return at
        return None

    def stop(self) -> None:
        self._stop.set()


def write_config(
    tmp: Path, halls: list[Path], sites: list[str], sql_url: str, influx: str, db: str, nats: str | None
) -> Path:
    """``tmp/server.yaml``: PostgreSQL, InfluxDB, the halls and their gateways' tokens; on the
    JetStream bus at ``nats`` (a stream of its own, ``stream_of``), else the single box."""
    (tmp / "admin.token").write_text(ADMIN_TOKEN + "\n")
    gateways = ""
    for site in sites:
        (tmp / f"{site}.token").write_text(gateway_token(site) + "\n")
        gateways += (
            f"  - {{name: gw-{site}, role: gateway, token_file: {tmp / f'{site}.token'}, sites: [{site}]}}\n"
        )
    bus = ""
    if nats is not None:
        bus = f"""bus:
  kind: jetstream
  servers: [{nats}]
  stream: {stream_of(tmp)}
  subject_prefix: {stream_of(tmp).lower()}
  replicas: 1
  partitions: 4
  publish_timeout_s: 5
"""
    config = tmp / "server.yaml"
    config.write_text(
        f"""
listen: {{host: 127.0.0.1, port: 8000}}
sql_url: {sql_url}
influx: {{url: "{influx}", database: {db}, linger_s: 0.05}}
halls: {json.dumps([str(h) for h in halls])}
bootstrap_tokens:
  - {{name: ops, role: admin, token_file: {tmp / "admin.token"}}}
{gateways}{bus}"""
    )
    return config


def stream_of(tmp: Path) -> str:
    """The stream of the configuration written in ``tmp``, and its subjects' prefix in lower case
    (one per test on the shared nats-server: two streams' subjects may not overlap)."""
    return f"LWREP{zlib.crc32(str(tmp).encode()):08X}"


def consumers_done(nats: str, stream: str) -> bool:
    """Whether every durable consumer of ``stream`` (the engine's, the writers') has had and
    acknowledged every stored batch."""

    async def check() -> bool:
        nc = await nats_client.connect(servers=[nats])
        try:
            js = nc.jetstream(timeout=10)
            infos = await js.consumers_info(stream)
            return bool(infos) and all(not (i.num_pending or i.num_ack_pending) for i in infos)
        finally:
            await nc.close()

    return asyncio.run(check())


def start_replica(tmp: Path, config: Path, name: str, roles: str) -> Replica:
    port = free_port()
    log = tmp / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                *("-m", "system", "server", "run", "--config", str(config)),
                "--port",
                str(port),
                "--roles",
                roles,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            cwd=tmp,
        )
    replica = Replica(name, f"http://127.0.0.1:{port}", proc, log)

    def up() -> bool:
        try:
            return httpx.get(f"{replica.base}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    if not wait_until(up, 90):
        proc.terminate()
        raise AssertionError(f"{name} did not start:\n{replica.tail()}")
    return replica


def stop_replicas(replicas: Iterator[Replica] | list[Replica]) -> None:
    for r in replicas:
        r.proc.terminate()
    for r in replicas:
        try:
            r.proc.wait(30)
        except subprocess.TimeoutExpired:
            r.proc.kill()


def zones(cam: Stamper, n: int) -> list[dict[str, Any]]:
    """``n`` queue states of one camera, each below every alert limit (no alert of their own)."""
    return [
        to_dict(
            cam.make(
                ZoneState,
                zone="queue-main",
                kind=ZoneKind.QUEUE,
                occupancy=float(i % 3),
                count=i % 3,
                queue_length=i % 3,  # below the no-upsell limit: no other alert
                entered_total=i,
                exited_total=0,
            )
        )
        for i in range(n)
    ]
