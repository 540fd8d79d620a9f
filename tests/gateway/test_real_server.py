"""Acceptance: hall broker -> gateway process (SIGKILLed mid-stream, restarted) -> the real
central server (create_app under uvicorn, SQLite, the shared influxd). Every message must be
stored exactly once and the server's sequence statistics must show nothing missing."""

from __future__ import annotations

import signal
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
import yaml
from fastapi import FastAPI
from sqlalchemy import func, select

from lobbywatch.clock import FixedClock
from lobbywatch.mqtt import connect_and_wait, make_client, publish
from lobbywatch.protocol.messages import DeviceEvent, DeviceHeartbeat, Envelope, WaitRecord, ZoneState
from lobbywatch.protocol.sequence import Stamper
from lobbywatch.services import Influxd, Mosquitto, free_port, wait_until
from server.app import create_app
from server.core.config import InfluxConfig, ServerSettings
from server.core.security import create_token
from server.storage.models import ReceivedMessage
from tests.conftest import broker_config
from tests.gateway.helpers_gateway import healthz, start_gateway_process
from tests.helpers_asgi import ThreadedAsgiServer

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "examples" / "telecom-hall.yaml"
TOTAL = 3000
SOURCES = ("cam-counters", "kiosk-topup-1", "kiosk-bill-1")


@dataclass
class RealServer:
    """A started central server: its app (for SQL), URL and tokens."""

    app: FastAPI
    url: str
    admin_token: str
    gateway_token: str

    def stored(self, site: str) -> int:
        """Messages of ``site`` the server has accepted (its idempotency keys)."""
        with self.app.state.ctx.db.session() as session:
            query = select(func.count()).select_from(ReceivedMessage).where(ReceivedMessage.site == site)
            n = session.scalar(query)
            return int(n or 0)

    def keys(self, site: str) -> list[tuple[str, int, int]]:
        with self.app.state.ctx.db.session() as session:
            rows = session.execute(
                select(ReceivedMessage.source, ReceivedMessage.epoch, ReceivedMessage.seq).where(
                    ReceivedMessage.site == site, ReceivedMessage.is_will.is_(False)
                )
            )
            return [(str(s), int(e), int(q)) for s, e, q in rows]


def _hall(site: str) -> dict[str, Any]:
    """The example telecom hall under ``site``, without notification channels (no network)."""
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["site"] = site
    data.pop("notifications", None)
    return data


@pytest.fixture
def real_server(
    tmp_path: Path, clock: FixedClock, site_id: str, influxd: Influxd, influx_db: str
) -> Iterator[RealServer]:
    hall = tmp_path / "server-hall.yaml"
    hall.write_text(yaml.safe_dump(_hall(site_id), allow_unicode=True, sort_keys=False), encoding="utf-8")
    settings = ServerSettings(
        sql_url=f"sqlite:///{tmp_path / 'server.sqlite3'}",
        influx=InfluxConfig(url=influxd.url, database=influx_db, flush_interval_s=0.2),
        halls=[hall],
    )
    app = create_app(settings, clock)
    server = ThreadedAsgiServer(app, "gateway-real-server").start()
    tokens: dict[str, str] = {}
    with app.state.ctx.db.session() as session:
        for role in ("admin", "gateway"):
            sites = None if role == "admin" else [site_id]
            _row, plain = create_token(
                session, name=f"{role}-li", role=role, sites=sites, created_at=clock.now()
            )
            assert plain is not None
            tokens[role] = plain
    try:
        yield RealServer(app, server.url, tokens["admin"], tokens["gateway"])
    finally:
        server.stop()


def _stream(site: str, clock: FixedClock) -> list[Envelope]:
    """TOTAL messages from three sources, round robin: a camera sending zone states (samples)
    and wait records (events), two kiosks sending heartbeats (samples) and faults (events)."""
    stampers = {s: Stamper(site, s, clock=clock) for s in SOURCES}
    now = clock.now()
    out: list[Envelope] = []
    for i in range(TOTAL):
        src = SOURCES[i % len(SOURCES)]
        st = stampers[src]
        event = (i // len(SOURCES)) % 4 == 3
        if src == "cam-counters":
            if event:
                out.append(
                    st.make(
                        WaitRecord,
                        zone="queue-main",
                        kind="wait",
                        zone_kind="queue",
                        started=now - timedelta(seconds=120),
                        ended=now,
                        duration_s=120.0,
                        outcome="exited",
                    )
                )
            else:
                out.append(
                    st.make(
                        ZoneState,
                        zone="queue-main",
                        kind="queue",
                        occupancy=3.0,
                        count=3,
                        queue_length=3,
                        entered_total=i,
                        exited_total=i,
                    )
                )
        elif event:
            out.append(st.make(DeviceEvent, event="fault_raised", code="PRN_PAPER_OUT", severity="warning"))
        else:
            out.append(st.make(DeviceHeartbeat, uptime_s=float(i), interval_s=30))
    return out


def _publish_all(client: mqtt.Client, messages: list[Envelope]) -> None:
    _wait_acked([publish(client, m) for m in messages])


def _wait_acked(infos: list[mqtt.MQTTMessageInfo]) -> None:
    for info in infos:
        info.wait_for_publish(30)
        assert info.is_published()


def test_gateway_sigkill_against_real_server_stores_everything_once(
    tmp_path: Path, mosquitto: Mosquitto, real_server: RealServer, clock: FixedClock, site_id: str
) -> None:
    health_port = free_port()
    token_file = tmp_path / "gateway.token"
    token_file.write_text(real_server.gateway_token + "\n")
    hall = _hall(site_id)
    hall["broker"] = {"host": mosquitto.host, "port": mosquitto.port, "keepalive_s": 5}
    hall["gateway"] = {
        "id": "gw1",
        "server_url": real_server.url,
        "token_file": str(token_file),
        "outbox": str(tmp_path / "outbox.sqlite3"),
        "batch_max": 500,
        "batch_age_s": 0.02,
        "health_port": health_port,
        "request_timeout_s": 5,
        "retry_initial_s": 0.05,
        "retry_max_s": 0.5,
    }
    config = tmp_path / "gateway-hall.yaml"
    config.write_text(yaml.safe_dump(hall, allow_unicode=True, sort_keys=False), encoding="utf-8")
    log = tmp_path / "gateway.log"
    sent = _stream(site_id, clock)
    first, rest = sent[: TOTAL // 3], sent[TOTAL // 3 :]

    pub = make_client(f"pub-{uuid.uuid4().hex[:8]}", broker_config(mosquitto))
    pub.max_inflight_messages_set(1000)
    pub.max_queued_messages_set(0)
    connect_and_wait(pub, broker_config(mosquitto))
    proc = start_gateway_process(config, log, health_port)
    try:
        infos = [publish(pub, m) for m in first]
        assert wait_until(lambda: real_server.stored(site_id) > 0, 20), log.read_text()[-3000:]
        proc.send_signal(signal.SIGKILL)  # while the first third is still arriving
        proc.wait(10)
        killed_at = real_server.stored(site_id)
        _wait_acked(infos)
        proc = start_gateway_process(config, log, health_port)
        _publish_all(pub, rest)
        done = wait_until(lambda: real_server.stored(site_id) >= TOTAL, 30)
        assert done, f"server has {real_server.stored(site_id)} of {TOTAL}:\n{log.read_text()[-3000:]}"
        assert wait_until(lambda: healthz(health_port)["backlog"]["count"] == 0, 10)
    finally:
        pub.loop_stop()
        pub.disconnect()
        proc.terminate()
        proc.wait(20)
    assert proc.returncode == 0, log.read_text()[-3000:]
    print(f"gateway SIGKILLed with {killed_at} of {TOTAL} messages on the server")

    keys = real_server.keys(site_id)
    twice = [k for k, n in Counter(keys).items() if n > 1]
    assert not twice, f"stored more than once: {twice[:5]}"
    want = {(m.source, m.epoch, m.seq) for m in sent}
    assert set(keys) == want, f"missing {sorted(want - set(keys))[:5]}, extra {sorted(set(keys) - want)[:5]}"

    r = httpx.get(
        f"{real_server.url}/api/v1/sites/{site_id}/streams",
        headers={"Authorization": f"Bearer {real_server.admin_token}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    streams = {(s["source"], s["epoch"]): s for s in r.json()}
    per_source = Counter(m.source for m in sent)
    assert set(streams) == {(s, 0) for s in SOURCES}
    for source, n in per_source.items():
        s = streams[(source, 0)]
        assert s["missing"] == 0, s
        assert s["received"] == n, s
        assert s["highest_seq"] == n - 1, s
