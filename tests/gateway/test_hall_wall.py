"""The in-hall wall with the central server down (docs/pages.md, "In-hall mode"): the real
gateway serves the wall page on its own port, keeps the open hall alerts retained on the real
Mosquitto (generated accounts, ACL, WebSocket listener), and a display started in headless
Chromium while the server is not running loads the page from the gateway and shows the
hall's figures and the alerts sent down before it started; a resolved alert leaves it, also
for a display started afterwards, which sees the same open alerts as the running one.
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from playwright.sync_api import Browser, Page, expect, sync_playwright

from edge.devices.credentials import DISPLAY_USER, GATEWAY_USER
from gateway.service import Gateway, GatewaySettings
from lobbywatch.clock import FixedClock
from lobbywatch.config.site import BrokerConfig
from lobbywatch.protocol.enums import AlertState
from lobbywatch.protocol.messages import AlertNotice
from lobbywatch.services import free_port, wait_until
from lobbywatch.web import PAGE_HEADERS, WALL_HEADERS
from lobbywatch.web.layout import hall_layout
from server.app import create_app
from server.context import ServerContext
from server.core.config import InfluxConfig, ServerSettings
from server.core.security import create_token
from tests.conftest import launch_chromium
from tests.edge.devices.helpers_devices import hall
from tests.gateway.helpers_downlink import server_hall
from tests.helpers_asgi import ThreadedAsgiServer
from tests.helpers_hall_broker import HallBroker, hall_alert, hall_floor, open_hall_broker

pytestmark = pytest.mark.real
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = launch_chromium(p)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="en-US")
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def hall_broker(tmp_path: Path, site_id: str, clock: FixedClock) -> Iterator[HallBroker]:
    with open_hall_broker(tmp_path / "hall", site_id, clock) as hb:
        yield hb


class Central:
    """The central server in process (it knows no broker), stopped and started on one port."""

    def __init__(self, tmp_path: Path, site: str, clock: FixedClock) -> None:
        hall = tmp_path / "server-hall.yaml"
        hall.write_text(yaml.safe_dump(server_hall(site), allow_unicode=True), encoding="utf-8")
        settings = ServerSettings(
            sql_url=f"sqlite:///{tmp_path / 'server.sqlite3'}",
            influx=InfluxConfig(enabled=False),
            halls=[hall],
        )
        self.app = create_app(settings, clock)
        self.ctx: ServerContext = self.app.state.ctx
        self.port = free_port()
        self.server: ThreadedAsgiServer | None = None
        self.start()  # creates the tables
        with self.ctx.db.session() as session:
            _row, token = create_token(
                session, name="gw", role="gateway", sites=[site], created_at=clock.now()
            )
        self.stop()
        assert token is not None
        self.token = token

    def start(self) -> None:
        self.server = ThreadedAsgiServer(self.app, "central", port=self.port).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


@pytest.fixture
def central(tmp_path: Path, site_id: str, clock: FixedClock) -> Iterator[Central]:
    c = Central(tmp_path, site_id, clock)
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture
def gateway(tmp_path: Path, hall_broker: HallBroker, central: Central) -> Iterator[Gateway]:
    hb = hall_broker
    broker = BrokerConfig(
        host=hb.broker.host,
        port=hb.broker.port,
        username=GATEWAY_USER,
        password_file=hb.creds.secrets_dir / f"{GATEWAY_USER}.password",
        keepalive_s=5,
    )
    settings = GatewaySettings(
        site=hb.site,
        gateway_id="gw1",
        broker=broker,
        server_url=f"http://127.0.0.1:{central.port}",
        token=central.token,
        outbox=tmp_path / "outbox.sqlite3",
        max_disk_bytes=64 * 1024 * 1024,
        health_port=0,
        request_timeout_s=2.0,
        retry_initial_s=0.05,
        retry_max_s=0.5,
        downlink_wait_s=1.0,
        wall_port=free_port(),
        wall_host="127.0.0.1",
        wall_layout=json.dumps(hall_layout(hall(hb.site))),
    )
    gw = Gateway(settings)
    gw.start()
    try:
        yield gw
    finally:
        gw.stop()


def wall_url(gw: Gateway, hb: HallBroker) -> str:
    """The wall as a display in the hall opens it: from the gateway, reading the hall broker."""
    password = hb.creds.passwords[DISPLAY_USER]
    base = f"http://127.0.0.1:{gw.settings.wall_port}"
    return f"{base}/wall/{hb.site}?lang=en&hall={hb.ws_url}#hall_password={password}"


def sent_down(central: Central, gw: Gateway, hb: HallBroker, *notices: AlertNotice) -> None:
    """The server up, ``notices`` queued for the hall and applied by the gateway, server down."""
    central.start()
    try:
        central.ctx.downlink.put(hb.site, notices)
        assert wait_until(lambda: central.ctx.downlink.pending(hb.site) == 0, 20), gw.snapshot()
    finally:
        central.stop()


def test_a_display_started_during_an_outage_loads_the_wall_from_the_gateway(
    hall_broker: HallBroker, central: Central, gateway: Gateway, page: Page
) -> None:
    hb, gw = hall_broker, gateway
    sent_down(
        central,
        gw,
        hb,
        hall_alert(hb, "alert-hall-0001", "kiosk-bill-1"),
        hall_alert(hb, "alert-hall-0002", "kiosk-topup-1"),
    )
    hb.publish(*hall_floor(hb, queue=7))
    assert central.server is None  # the WAN is down: nothing below reaches the central server

    # The gateway serves the wall and its files with the server's headers, and nothing else.
    base = f"http://127.0.0.1:{gw.settings.wall_port}"
    r = httpx.get(f"{base}/wall/{hb.site}?hall=ws://x:9001")
    assert r.status_code == 200
    assert "/web/static/wall-hall.js" in r.text
    assert {k: r.headers[k] for k in WALL_HEADERS} == WALL_HEADERS
    r = httpx.get(f"{base}/web/static/mqtt-ws.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert {k: r.headers[k] for k in PAGE_HEADERS} == PAGE_HEADERS
    r = httpx.get(f"{base}/api/v1/web/sites/{hb.site}/layout")  # from the hall file, no token
    names = {z["id"]: z["name"] for z in r.json()["zones"]}
    assert names["queue-main"] == {"en": "Counter queue", "zh-CN": "排队区"}
    for path in ("/wall/other-hall", "/staff", "/web/static/nope.js", "/web/static/..%2fx.js", "/"):
        assert httpx.get(base + path).status_code == 404, path

    page.goto(wall_url(gw, hb))
    pill = page.get_by_test_id("data-pill")
    expect(pill).to_have_attribute("data-state", "hall", timeout=TIMEOUT_MS)
    expect(page.get_by_test_id("queue-queue-main")).to_contain_text("7 in line")
    expect(page.get_by_test_id("queue-queue-main")).to_contain_text("Counter queue")  # the layout
    expect(page.get_by_test_id("kpi-people")).to_contain_text("20")
    expect(page.get_by_test_id("kpi-kiosks")).to_contain_text("1 / 3")  # the hall file's 3 kiosks
    expect(page.get_by_test_id("business-broadband")).to_contain_text("5")
    # Both alerts came down before the page started: the broker kept them for it.
    expect(page.get_by_test_id("alert-alert-hall-0001")).to_contain_text("Kiosk fault: kiosk-bill-1")
    expect(page.get_by_test_id("alert-alert-hall-0002")).to_contain_text("Kiosk fault: kiosk-topup-1")
    expect(page.locator("#login")).to_be_hidden()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "wall-from-gateway-1920x1080.png"))

    # The WAN comes back long enough for one alert's resolution to come down: it leaves the wall.
    sent_down(central, gw, hb, hall_alert(hb, "alert-hall-0001", "kiosk-bill-1", AlertState.RESOLVED))
    expect(page.get_by_test_id("alert-alert-hall-0001")).to_have_count(0, timeout=TIMEOUT_MS)
    expect(page.get_by_test_id("alert-alert-hall-0002")).to_be_visible()
    # Meanwhile the server has judged the forwarded floor and sent its own alerts down (the
    # faulted kiosk, ...): the wall shows them too. A display (re)started now gets the same
    # open alerts from the broker alone, the resolved one not among them.
    open_now = page.get_by_test_id("alert-count").inner_text()
    page.reload()
    expect(pill).to_have_attribute("data-state", "hall", timeout=TIMEOUT_MS)
    expect(page.get_by_test_id("alert-alert-hall-0002")).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.get_by_test_id("alert-count")).to_have_text(open_now)
    expect(page.get_by_test_id("alert-alert-hall-0001")).to_have_count(0)
