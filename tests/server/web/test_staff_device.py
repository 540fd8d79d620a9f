"""The staff page's device buttons in a real headless Chromium: a manager puts the kiosk of a
device alert out of service and back; each press queues a command on the hall's downlink."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from lobbywatch.protocol.codec import decode_obj
from lobbywatch.protocol.enums import DeviceEventKind, Presence, Severity
from lobbywatch.protocol.messages import DeviceCommand, DeviceEvent, DeviceStatus
from server.context import ServerContext

from .conftest import LiveServer

TIMEOUT_MS = 10_000


def test_staff_page_puts_the_device_of_an_alert_out_of_service_and_back(
    live_server: LiveServer, page: Page, artifacts: Path
) -> None:
    s = live_server
    s.ingest(
        [
            s.make(DeviceStatus, "kiosk-topup-1", state=Presence.ONLINE, heartbeat_s=30),
            s.make(
                DeviceEvent,
                "kiosk-topup-1",
                event=DeviceEventKind.FAULT_RAISED,
                code="CASH_JAM",
                severity=Severity.CRITICAL,
                unusable=False,
            ),
        ]
    )
    page.set_viewport_size({"width": 375, "height": 812})
    page.goto(f"{s.url}/staff?token={s.tokens['manager']}&lang=zh-CN")
    card = page.locator("[data-kind=device_fault]", has_text="CASH_JAM")
    expect(card.get_by_test_id("device-ctl")).to_contain_text("设备 kiosk-topup-1", timeout=TIMEOUT_MS)
    card.get_by_test_id("oos-on").click()
    sent = "已发送，设备确认后显示为暂停服务。"
    expect(card.get_by_test_id("oos-msg")).to_have_text(sent, timeout=TIMEOUT_MS)
    page.screenshot(path=str(artifacts / "staff-device-375x812.png"), full_page=True)
    page.get_by_role("button", name="English").click()
    expect(card.get_by_test_id("oos-off")).to_have_text("Back in service")
    card.get_by_test_id("oos-off").click()
    expect(card.get_by_test_id("oos-msg")).to_have_text(
        "Sent; the device shows in service once it confirms.", timeout=TIMEOUT_MS
    )
    ctx: ServerContext = s.app.state.ctx
    commands = [decode_obj(i.message) for i in ctx.downlink.after(s.site, 0).items]
    assert [(c.device, c.command) for c in commands if isinstance(c, DeviceCommand)] == [
        ("kiosk-topup-1", "out_of_service_on"),
        ("kiosk-topup-1", "out_of_service_off"),
    ]
