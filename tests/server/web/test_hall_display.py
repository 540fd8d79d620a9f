"""The wall page in the hall (docs/pages.md, "In-hall mode"), in a real headless Chromium against a
real Mosquitto with the generated accounts, ACL and WebSocket listener: messages are published
as the hall's cameras, devices and gateway would, and the page shows the hall's own figures from
the broker, alone (no server token) or while the server is stopped, and the server's
figures again once it is back. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from edge.devices.credentials import DISPLAY_USER
from lobbywatch.clock import FixedClock
from lobbywatch.protocol.enums import Severity
from lobbywatch.protocol.messages import AlertNotice, LocalizedText
from tests.helpers_asgi import ThreadedAsgiServer
from tests.helpers_hall_broker import HallBroker, hall_alert, hall_floor, open_hall_broker

from .conftest import LiveServer
from .test_pages import devices, floor

pytestmark = pytest.mark.real
TIMEOUT_MS = 15_000


@pytest.fixture
def hall_broker(tmp_path: Path, site_id: str, clock: FixedClock) -> Iterator[HallBroker]:
    with open_hall_broker(tmp_path, site_id, clock) as hb:
        yield hb


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
