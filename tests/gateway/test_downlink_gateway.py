"""The gateway's downlink thread against the real server app (in process) and Mosquitto:
what it skips, and what it does when the server's numbering is behind its own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gateway.service import Gateway, GatewaySettings
from lobbywatch.clock import FixedClock
from lobbywatch.protocol.enums import DeviceCommandKind
from lobbywatch.protocol.messages import DeviceCommand, DeviceHeartbeat, Envelope
from lobbywatch.protocol.sequence import Stamper
from lobbywatch.protocol.topics import ROOT
from lobbywatch.services import Mosquitto, free_port, wait_until
from server.app import create_app
from server.context import ServerContext
from server.core.config import InfluxConfig, ServerSettings
from server.core.security import create_token
from tests.conftest import broker_config
from tests.edge.devices.helpers_devices import KIOSK, Recorder, recorder
from tests.gateway.helpers_downlink import server_hall
from tests.helpers_asgi import ThreadedAsgiServer

pytestmark = pytest.mark.real


@pytest.fixture
def app_server(tmp_path: Path, clock: FixedClock, site_id: str) -> Iterator[tuple[str, ServerContext, str]]:
    hall = tmp_path / "hall.yaml"
    hall.write_text(yaml.safe_dump(server_hall(site_id), allow_unicode=True), encoding="utf-8")
    settings = ServerSettings(
        sql_url=f"sqlite:///{tmp_path / 'server.sqlite3'}", influx=InfluxConfig(enabled=False), halls=[hall]
    )
    app = create_app(settings, clock)
    server = ThreadedAsgiServer(app, "downlink-server").start()
    ctx: ServerContext = app.state.ctx
    with ctx.db.session() as session:
        _row, token = create_token(
            session, name="gw", role="gateway", sites=[site_id], created_at=clock.now()
        )
    assert token is not None
    try:
        yield server.url, ctx, token
    finally:
        server.stop()


def _gateway(tmp_path: Path, site: str, mosquitto: Mosquitto, url: str, token: str) -> Gateway:
    settings = GatewaySettings(
        site=site,
        gateway_id="gw1",
        broker=broker_config(mosquitto),
        server_url=url,
        token=token,
        outbox=tmp_path / "outbox.sqlite3",
        max_disk_bytes=64 * 1024 * 1024,
        health_port=free_port(),
        request_timeout_s=2.0,
        retry_initial_s=0.05,
        retry_max_s=0.3,
        downlink_wait_s=1.0,
    )
    return Gateway(settings)


def _commands(rec: Recorder) -> list[DeviceCommand]:
    return [m for _, m, _ in rec.pump() if isinstance(m, DeviceCommand)]


def test_the_gateway_skips_what_is_not_a_downlink_of_its_hall(
    tmp_path: Path,
    clock: FixedClock,
    site_id: str,
    mosquitto: Mosquitto,
    app_server: tuple[str, ServerContext, str],
) -> None:
    url, ctx, token = app_server
    ours = Stamper(site_id, "server-commands", clock=clock)
    theirs = Stamper("elsewhere", "server-commands", clock=clock)
    items: list[Envelope] = [
        Stamper(site_id, KIOSK, clock=clock).make(DeviceHeartbeat, uptime_s=1.0, interval_s=30),  # upward
        theirs.make(DeviceCommand, device=KIOSK, command=DeviceCommandKind.PING),  # another hall
        ours.make(DeviceCommand, device=KIOSK, command=DeviceCommandKind.OUT_OF_SERVICE_ON),
    ]
    ctx.downlink.put(site_id, items)
    rec = recorder(mosquitto.port, f"{ROOT}/#")
    gw = _gateway(tmp_path, site_id, mosquitto, url, token)
    gw.start()
    try:
        # the server forgets on the acknowledgement; the gateway counts it once the answer is back
        assert wait_until(
            lambda: ctx.downlink.pending(site_id) == 0 and gw.snapshot()["downlink"]["acked"] == 3, 20
        ), gw.snapshot()
        assert rec.wait_for(lambda _: _commands(rec), 10)
        assert [(c.site, c.command) for c in _commands(rec)] == [(site_id, "out_of_service_on")]
        assert gw.snapshot()["downlink"] == {
            "applied": 3,
            "acked": 3,
            "published": 1,
            "skipped": 2,
            "last_error": None,
        }
    finally:
        gw.stop()
        rec.close()
    assert json.loads((tmp_path / "outbox.sqlite3.downlink").read_text()) == {"applied": 3}


def test_a_gateway_ahead_of_the_servers_numbering_starts_again(
    tmp_path: Path,
    clock: FixedClock,
    site_id: str,
    mosquitto: Mosquitto,
    app_server: tuple[str, ServerContext, str],
) -> None:
    """The server's database was replaced: its numbering starts at 1 again, below the
    gateway's position; the gateway starts from 0 rather than wait for number 101."""
    url, ctx, token = app_server
    (tmp_path / "outbox.sqlite3.downlink").write_text(json.dumps({"applied": 100}))
    stamper = Stamper(site_id, "server-commands", clock=clock)
    ctx.downlink.put(site_id, [stamper.make(DeviceCommand, device=KIOSK, command="ping") for _ in range(2)])
    rec = recorder(mosquitto.port, f"{ROOT}/{site_id}/device/+/downlink")
    gw = _gateway(tmp_path, site_id, mosquitto, url, token)
    gw.start()
    try:
        assert rec.wait_for(lambda _: len(_commands(rec)) == 2, 20), gw.snapshot()
        assert wait_until(lambda: ctx.downlink.pending(site_id) == 0, 10)
    finally:
        gw.stop()
        rec.close()
