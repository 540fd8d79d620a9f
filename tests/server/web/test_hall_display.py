"""The wall page in the hall (docs/pages.md, "In-hall mode"), in a real headless Chromium against a
real Mosquitto with the generated accounts, ACL and WebSocket listener: messages are published
as the hall's cameras, devices and gateway would, and the page shows the hall's own figures from
the broker, alone (no server token) or while the server is stopped, and the server's
figures again once it is back. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from playwright.sync_api import Page, expect

from edge.devices.credentials import (
    DISPLAY_USER,
    GATEWAY_USER,
    GeneratedCredentials,
    auth_config,
    camera_user,
    device_user,
    websocket_listener,
    write_credentials,
)
from lobbywatch.clock import FixedClock
from lobbywatch.protocol.codec import encode
from lobbywatch.protocol.enums import CounterStatus, DeviceKind, Presence, Severity, ZoneKind
from lobbywatch.protocol.messages import (
    AlertNotice,
    CounterState,
    DeviceInfo,
    DeviceStatus,
    Envelope,
    LocalizedText,
    ZoneState,
)
from lobbywatch.protocol.sequence import Stamper
from lobbywatch.protocol.tickets import BusinessWaitEntry, WaitBoard
from lobbywatch.protocol.topics import topic_for
from lobbywatch.services import Mosquitto, free_port
from tests.edge.devices.helpers_devices import hall
from tests.helpers_asgi import ThreadedAsgiServer

from .conftest import LiveServer
from .test_pages import devices, floor

pytestmark = pytest.mark.real
TIMEOUT_MS = 15_000


@dataclass
class HallBroker:
    """The hall's broker with the generated accounts; publishes as the hall's own sources."""

    broker: Mosquitto
    ws_url: str
    creds: GeneratedCredentials
    site: str
    clock: FixedClock
    stampers: dict[str, Stamper] = field(default_factory=dict)

    def user_for(self, message: Envelope) -> str:
        if isinstance(message, ZoneState):
            return camera_user(message.source)
        if isinstance(message, DeviceStatus | CounterState):
            return device_user(message.source)
        return GATEWAY_USER  # the downlink: hall alerts and the wait board

    def publish(self, *messages: Envelope) -> None:
        """Publish each message as its source, on its topic, retained where the protocol says."""
        for m in messages:
            user = self.user_for(m)
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user)
            client.username_pw_set(user, self.creds.passwords[user])
            client.connect(self.broker.host, self.broker.port)
            client.loop_start()
            try:
                info = client.publish(topic_for(m), encode(m), qos=1, retain=m.RETAINED)
                info.wait_for_publish(10)
                assert info.is_published()
            finally:
                client.disconnect()
                client.loop_stop()

    def make(self, cls: type[Envelope], source: str, **fields: Any) -> Envelope:
        st = self.stampers.setdefault(source, Stamper(self.site, source, clock=self.clock))
        return st.make(cls, **fields)

    def page_url(self, base: str, token: str | None = None) -> str:
        """The wall served at ``base`` reading this broker (with ``token``: the server too)."""
        password = self.creds.passwords[DISPLAY_USER]
        query = f"lang=en&hall={self.ws_url}" + (f"&token={token}" if token else "")
        return f"{base}/wall/{self.site}?{query}#hall_password={password}"


@pytest.fixture
def hall_broker(tmp_path: Path, site_id: str, clock: FixedClock) -> Iterator[HallBroker]:
    ws_port = free_port()
    creds = write_credentials(hall(site_id), tmp_path / "creds", websocket_port=ws_port)
    extra = [*auth_config(creds.password_file, creds.acl_file), *websocket_listener(ws_port)]
    with Mosquitto(tmp_path / "broker", extra_config=extra) as broker:
        yield HallBroker(broker, f"ws://127.0.0.1:{ws_port}", creds, site_id, clock)


def hall_floor(hb: HallBroker, *, queue: int) -> list[Envelope]:
    """What the cameras, kiosks, a counter terminal and the gateway leave on the hall broker."""
    zones = [
        ("cam-counters", "queue-main", ZoneKind.QUEUE, queue, 60.0 * queue + 60, 120.0 * queue),
        ("cam-counters", "waiting", ZoneKind.WAITING, 9, None, 240.0),
        ("cam-entrance", "entrance", ZoneKind.ENTRANCE, 4, None, None),
    ]
    out: list[Envelope] = [
        hb.make(
            ZoneState,
            cam,
            zone=zone,
            kind=kind,
            occupancy=float(n),
            count=n,
            queue_length=n if kind == ZoneKind.QUEUE else None,
            expected_wait_s=exp,
            longest_wait_s=longest,
            entered_total=40,
            exited_total=40 - n,
        )
        for cam, zone, kind, n, exp, longest in zones
    ]
    kiosks = [
        ("kiosk-topup-1", DeviceKind.TOP_UP_KIOSK, []),
        ("kiosk-bill-1", DeviceKind.BILL_PAYMENT_KIOSK, ["PRN_PAPER_OUT"]),
    ]
    for dev, kind, faults in kiosks:
        info = DeviceInfo(kind=kind, vendor="huaxin-maint", model="HX")
        out.append(hb.make(DeviceStatus, dev, state=Presence.ONLINE, faults=faults, info=info))
    out.append(hb.make(DeviceStatus, "kiosk-sim-1", state=Presence.OFFLINE, will=True))
    out.append(hb.make(CounterState, "term-c1", counter="c1", state=CounterStatus.SERVING))
    entry = BusinessWaitEntry.model_validate(
        {
            "business": "broadband",
            "name_en": "Broadband",
            "name_zh-CN": "宽带",
            "ahead": 5,
            "expected_wait_s": 900,
        }
    )
    out.append(hb.make(WaitBoard, "server", waits=[entry]))
    return out


def hall_alert(hb: HallBroker) -> Envelope:
    """A hall alert as the gateway publishes it from the downlink (live, not retained)."""
    text = LocalizedText.model_validate
    return hb.make(
        AlertNotice,
        "server",
        alert_id="alert-hall-0001",
        kind="device_fault",
        severity=Severity.WARNING,
        state="firing",
        title=text({"en": "Kiosk fault: kiosk-bill-1", "zh-CN": "设备故障：kiosk-bill-1"}),
        body=text({"en": "Printer out of paper.", "zh-CN": "打印机缺纸。"}),
        device="kiosk-bill-1",
    )


def test_wall_in_the_hall_shows_the_halls_figures_from_the_broker(
    live_server: LiveServer, hall_broker: HallBroker, page: Page, artifacts: Path
) -> None:
    hb = hall_broker
    hb.publish(*hall_floor(hb, queue=7))
    # No server token: the page reads only the broker, as the display account.
    page.goto(hb.page_url(live_server.url))
    _shows_the_hall(hb, page, artifacts)
    # A wrong display password: the wall says so rather than showing nothing.
    page.goto(hb.page_url(live_server.url).replace("#hall_password=", "#hall_password=x"))
    expect(page.get_by_test_id("banner")).to_contain_text("refused the display account", timeout=TIMEOUT_MS)
    expect(page.locator("body")).to_have_attribute("data-hall", "denied")


def _shows_the_hall(hb: HallBroker, page: Page, artifacts: Path) -> None:
    pill = page.get_by_test_id("data-pill")
    expect(pill).to_have_attribute("data-state", "hall", timeout=TIMEOUT_MS)
    assert hb.creds.passwords[DISPLAY_USER] not in page.url  # kept, and gone from the address bar
    expect(pill).to_have_text("Hall data (WAN down)")
    expect(page.get_by_test_id("queue-queue-main")).to_contain_text("7 in line")
    expect(page.get_by_test_id("kpi-expected-wait")).to_contain_text("8")
    expect(page.get_by_test_id("kpi-longest-wait")).to_contain_text("14")
    expect(page.get_by_test_id("kpi-people")).to_contain_text("20")
    expect(page.get_by_test_id("kpi-kiosks")).to_contain_text("1 / 2")
    expect(page.get_by_test_id("device-kiosk-bill-1")).to_have_attribute("data-state", "faulted")
    expect(page.get_by_test_id("device-kiosk-sim-1")).to_have_attribute("data-state", "offline")
    expect(page.get_by_test_id("business-broadband")).to_contain_text("5")
    expect(page.locator("body")).to_have_attribute("data-hall", "open")
    hb.publish(hall_alert(hb))
    expect(page.get_by_test_id("alert-alert-hall-0001")).to_contain_text("Kiosk fault: kiosk-bill-1")
    expect(page.locator("#login")).to_be_hidden()

    # A hall alert resolved on the downlink leaves the wall; a new reading moves the figures.
    resolved = hb.make(
        AlertNotice,
        "server",
        alert_id="alert-hall-0001",
        kind="device_fault",
        severity=Severity.WARNING,
        state="resolved",
        title=LocalizedText.model_validate({"en": "Kiosk fault", "zh-CN": "设备故障"}),
        body=LocalizedText.model_validate({"en": "Fixed.", "zh-CN": "已修复。"}),
    )
    hb.publish(resolved, *hall_floor(hb, queue=3)[:1])
    expect(page.get_by_test_id("alerts-none")).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.get_by_test_id("queue-queue-main")).to_contain_text("3 in line", timeout=TIMEOUT_MS)
    page.get_by_role("button", name="中文").click()
    expect(pill).to_have_text("本厅数据（外网中断）")
    page.screenshot(path=str(artifacts / "wall-hall-only-zh-1920x1080.png"))


def test_wall_switches_to_the_hall_broker_when_the_server_stream_dies(
    live_server: LiveServer, hall_broker: HallBroker, page: Page, artifacts: Path
) -> None:
    s, hb = live_server, hall_broker
    s.ingest([*floor(s, queue=6, expected_s=780.0, longest_s=690.0), *devices(s)])
    hb.publish(*hall_floor(hb, queue=7))
    page.goto(hb.page_url(s.url, s.tokens["display"]))
    pill = page.get_by_test_id("data-pill")
    # The server's stream is up: its figures are shown, the broker is followed in the background.
    expect(pill).to_have_attribute("data-state", "live", timeout=TIMEOUT_MS)
    expect(page.get_by_test_id("queue-queue-main")).to_contain_text("6 in line")
    expect(page.locator("body")).to_have_attribute("data-hall", "open", timeout=TIMEOUT_MS)
    hb.publish(hall_alert(hb))  # sent down while the WAN was up, shown by the server meanwhile

    assert s.server is not None
    stopper = threading.Thread(target=s.server.stop, daemon=True)
    stopper.start()  # the WAN goes down

    expect(pill).to_have_attribute("data-state", "hall", timeout=TIMEOUT_MS)
    banner = page.get_by_test_id("banner")
    expect(banner).to_contain_text("these are the hall's own figures")
    expect(page.get_by_test_id("queue-queue-main")).to_contain_text("7 in line")
    expect(page.get_by_test_id("queue-queue-main")).to_contain_text("Counter queue")  # the kept layout
    expect(page.get_by_test_id("alert-alert-hall-0001")).to_be_visible()
    expect(page.get_by_test_id("business-broadband")).to_contain_text("Broadband")
    page.screenshot(path=str(artifacts / "wall-hall-fallback-1920x1080.png"))

    # The WAN is back: the server (again on its address) is followed, its figures shown.
    stopper.join(30)
    s.server = ThreadedAsgiServer(s.app, "web-test-server-again", port=s.server.port).start()
    try:
        s.ingest(floor(s, queue=5, expected_s=600.0, longest_s=650.0))
        expect(pill).to_have_attribute("data-state", "live", timeout=TIMEOUT_MS)
        expect(page.get_by_test_id("queue-queue-main")).to_contain_text("5 in line", timeout=TIMEOUT_MS)
        expect(banner).to_be_hidden()
    finally:
        s.server.stop()
