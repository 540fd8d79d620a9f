"""The wall and staff pages in a real headless Chromium against a real server.

Each test ingests messages through POST /api/v1/ingest and waits (Playwright's expect, no
sleeps) for the page to show them; screenshots go to test-artifacts/ for people to look at.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from lobbywatch.protocol.enums import AlertState, DeviceEventKind, Presence, Severity, ZoneKind
from lobbywatch.protocol.messages import DeviceEvent, DeviceStatus, ZoneState

from .conftest import LiveServer

TIMEOUT_MS = 10_000


def floor(server: LiveServer, *, queue: int, expected_s: float, longest_s: float) -> list[ZoneState]:
    """A busy moment: the counter queue, the waiting area and the entrance."""
    zones = [
        ("cam-counters", "queue-main", ZoneKind.QUEUE, queue, expected_s, longest_s),
        ("cam-counters", "waiting", ZoneKind.WAITING, 9, None, 240.0),
        ("cam-entrance", "entrance", ZoneKind.ENTRANCE, 4, None, None),
        ("cam-entrance", "self-service", ZoneKind.SELF_SERVICE, 2, None, None),
    ]
    out = []
    for cam, zone, kind, n, exp, longest in zones:
        out.append(
            server.make(
                ZoneState,
                cam,
                zone=zone,
                kind=kind,
                occupancy=float(n),
                count=n,
                queue_length=n if kind == ZoneKind.QUEUE else None,
                expected_wait_s=exp,
                longest_wait_s=longest,
                waits_over_limit=1 if longest is not None and longest > 600 else 0,
                entered_total=40,
                exited_total=40 - n,
            )
        )
    return out


def devices(server: LiveServer) -> list[DeviceStatus]:
    """One kiosk working, one faulted, one out of service; counter terminals online."""
    msgs = [
        server.make(DeviceStatus, "kiosk-topup-1", state=Presence.ONLINE, heartbeat_s=30),
        server.make(DeviceStatus, "kiosk-bill-1", state=Presence.ONLINE, faults=["PRN_PAPER_OUT"]),
        server.make(DeviceStatus, "kiosk-sim-1", state=Presence.ONLINE, out_of_service=True),
    ]
    msgs += [server.make(DeviceStatus, f"term-c{i}", state=Presence.ONLINE) for i in (1, 2, 3)]
    return msgs


def no_overflow(page: Page) -> bool:
    return bool(
        page.evaluate(
            "() => { const d = document.documentElement;"
            " return d.scrollHeight <= innerHeight && d.scrollWidth <= innerWidth; }"
        )
    )


def test_wall_shows_live_state_alerts_and_delay(live_server: LiveServer, page: Page, artifacts: Path) -> None:
    s = live_server
    page.goto(f"{s.url}/wall/{s.site}?token={s.tokens['display']}&lang=en")
    # The token was taken from the address bar and kept.
    expect(page).to_have_url(f"{s.url}/wall/{s.site}?lang=en", timeout=TIMEOUT_MS)
    expect(page.get_by_test_id("hall-name")).to_have_text("Pudong Century Avenue Business Hall")
    expect(page.get_by_test_id("data-pill")).to_have_attribute("data-state", "absent", timeout=TIMEOUT_MS)
    expect(page.get_by_test_id("banner")).to_contain_text("No data from the hall for over 60 s")

    s.ingest([*floor(s, queue=6, expected_s=780.0, longest_s=690.0), *devices(s)])

    expect(page.get_by_test_id("data-pill")).to_have_attribute("data-state", "live", timeout=TIMEOUT_MS)
    expect(page.get_by_test_id("banner")).to_be_hidden()
    queue = page.get_by_test_id("queue-queue-main")
    expect(queue).to_contain_text("6 in line", timeout=TIMEOUT_MS)
    expect(queue).to_contain_text("Wait 13 min")
    expect(queue).to_have_attribute("data-level", "bad")  # past the 10-minute line
    wait = page.get_by_test_id("kpi-expected-wait")
    expect(wait).to_contain_text("13")
    expect(wait).to_contain_text("Over the 10-min limit")
    expect(page.get_by_test_id("kpi-longest-wait")).to_contain_text("12")
    expect(page.get_by_test_id("kpi-longest-wait")).to_contain_text("Counter queue")
    expect(page.get_by_test_id("kpi-people")).to_contain_text("21")
    kiosks = page.get_by_test_id("kpi-kiosks")
    expect(kiosks).to_contain_text("1 / 3")
    expect(kiosks).to_contain_text("Below the minimum of 2")
    expect(kiosks).to_have_attribute("data-level", "bad")
    expect(page.get_by_test_id("device-kiosk-topup-1")).to_have_attribute("data-state", "online")
    expect(page.get_by_test_id("device-kiosk-bill-1")).to_have_attribute("data-state", "faulted")
    expect(page.get_by_test_id("device-kiosk-bill-1")).to_contain_text("PRN_PAPER_OUT")
    expect(page.get_by_test_id("device-kiosk-sim-1")).to_have_attribute("data-state", "out_of_service")
    expect(page.get_by_test_id("device-term-c4")).to_have_attribute("data-state", "unknown")
    expect(page.get_by_test_id("zone-waiting")).to_contain_text("9")

    # Alerts raised by the engine from those messages appear live.
    alerts = page.get_by_test_id("alerts")
    expect(alerts.locator("[data-kind=expected_wait]")).to_contain_text(
        "Expected wait too long: Counter queue", timeout=TIMEOUT_MS
    )
    expect(alerts.locator(".alert").first).to_have_class("alert sev-critical")  # the most severe first
    n_open = len(s.alerts.engine.open_alerts(s.site))
    assert n_open >= 4
    expect(page.get_by_test_id("alert-count")).to_have_text(f"({n_open})")
    assert no_overflow(page)
    page.screenshot(path=str(artifacts / "wall-1920x1080.png"))

    # Chinese, and a 1366x768 screen: same content, nothing scrolls.
    page.get_by_role("button", name="中文").click()
    expect(page.get_by_test_id("kpi-expected-wait")).to_contain_text("预计等候")
    expect(page.get_by_test_id("queue-queue-main")).to_contain_text("排队 6 人")
    expect(page.get_by_test_id("hall-name")).to_have_text("浦东世纪大道营业厅")
    page.screenshot(path=str(artifacts / "wall-zh-1920x1080.png"))
    page.set_viewport_size({"width": 1366, "height": 768})
    expect(alerts.locator(".alert").first).to_be_visible()
    assert no_overflow(page)
    page.screenshot(path=str(artifacts / "wall-zh-1366x768.png"))

    # The gateway reports an old backlog: the wall says the data is delayed.
    s.ingest([s.make(DeviceStatus, "term-c4", state=Presence.ONLINE)], backlog_age_s=300)
    expect(page.get_by_test_id("data-pill")).to_have_attribute("data-state", "delayed", timeout=TIMEOUT_MS)
    banner = page.get_by_test_id("banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("数据延迟")
    expect(page.get_by_test_id("device-term-c4")).to_have_attribute("data-state", "online")
    page.screenshot(path=str(artifacts / "wall-zh-delayed-1366x768.png"))


def test_wall_says_no_data_when_the_hall_falls_silent(live_server: LiveServer, page: Page) -> None:
    s = live_server
    page.clock.install()
    page.goto(f"{s.url}/wall/{s.site}?token={s.tokens['display']}&lang=en")
    s.ingest(floor(s, queue=2, expected_s=120.0, longest_s=60.0))
    pill = page.get_by_test_id("data-pill")
    expect(pill).to_have_attribute("data-state", "live", timeout=TIMEOUT_MS)
    expect(page.get_by_test_id("banner")).to_be_hidden()
    # One limit decides (the hall's notifications.policy.gateway_silence_s, 60 s by default):
    # the server's live state, the page and the gateway-silence alert agree on either side of it.
    limit_s = 60

    def silence_alert() -> bool:
        s.alerts.engine.tick()
        alerts = s.alerts.engine.open_alerts(s.site)
        return any(a.kind == "sensing_blind" and a.subject == "gateway" for a in alerts)

    def server_data() -> str:
        return str(s.api("GET", f"/api/v1/sites/{s.site}/live", "manager").json()["data"])

    s.clock.advance(limit_s - 5)
    page.clock.fast_forward((limit_s - 5) * 1000)
    assert (server_data(), silence_alert()) == ("live", False)
    expect(pill).to_have_attribute("data-state", "live", timeout=TIMEOUT_MS)
    expect(page.get_by_test_id("banner")).to_be_hidden()
    s.clock.advance(10)
    page.clock.fast_forward(10_000)
    assert (server_data(), silence_alert()) == ("absent", True)
    expect(pill).to_have_attribute("data-state", "absent", timeout=TIMEOUT_MS)
    expect(page.get_by_test_id("banner")).to_contain_text(f"No data from the hall for over {limit_s} s")
    # The hall comes back.
    s.ingest([s.make(DeviceStatus, "term-c1", state=Presence.ONLINE)])
    expect(pill).to_have_attribute("data-state", "live", timeout=TIMEOUT_MS)


def test_staff_page_lists_newest_first_and_acknowledges(
    live_server: LiveServer, page: Page, artifacts: Path
) -> None:
    s = live_server
    s.ingest(devices(s))  # kiosk-bill-1 faulted, kiosk-sim-1 out of service: fault and capacity alerts
    s.clock.advance(120)
    s.ingest(floor(s, queue=6, expected_s=780.0, longest_s=690.0))
    page.set_viewport_size({"width": 375, "height": 812})
    page.goto(f"{s.url}/staff?token={s.tokens['manager']}&lang=zh-CN")

    cards = page.locator("article.card")
    expect(page.get_by_test_id("conn")).to_have_attribute("data-state", "open", timeout=TIMEOUT_MS)
    expect(page.locator("[data-kind=expected_wait]")).to_contain_text("预计等候过长", timeout=TIMEOUT_MS)
    expect(page.locator("[data-kind=device_fault]")).to_contain_text("请立即张贴暂停服务告示")
    # Newest first: the queue alerts (2 min later) come before the device alerts.
    kinds = cards.evaluate_all("els => els.map(e => e.dataset.kind)")
    assert kinds.index("expected_wait") < kinds.index("device_fault"), kinds
    expect(page.locator("[data-kind=kiosk_capacity]")).to_have_attribute("data-severity", "critical")
    page.screenshot(path=str(artifacts / "staff-375x812.png"), full_page=True)

    # Acknowledge with a comment: the engine's alert changes, the card says who and why.
    card = page.locator("[data-kind=expected_wait]")
    alert_id = (card.get_attribute("data-testid") or "").removeprefix("alert-")
    card.get_by_test_id("comment").fill("已开 4 号快速通道")
    card.get_by_test_id("ack").click()
    expect(card).to_have_attribute("data-state", "acknowledged", timeout=TIMEOUT_MS)
    expect(card.get_by_test_id("acked")).to_contain_text("manager-wang 已确认 — 已开 4 号快速通道")
    acked = s.alerts.engine.get(alert_id)
    assert acked is not None
    assert acked.state == AlertState.ACKNOWLEDGED
    assert (acked.acked_by, acked.ack_comment) == ("manager-wang", "已开 4 号快速通道")

    # A new alert arrives while the page is open: it appears above the older ones. (Alerts the
    # timers raise at the same moment, heartbeats missed while the clock jumped, may land
    # above it too: the check is against the alerts raised before it.)
    s.clock.advance(60)
    s.ingest(
        [
            s.make(
                DeviceEvent,
                "kiosk-topup-1",
                event=DeviceEventKind.FAULT_RAISED,
                code="CASH_JAM",
                severity=Severity.CRITICAL,
                unusable=True,
            )
        ]
    )
    jam = page.locator("[data-kind=device_fault]", has_text="CASH_JAM")
    expect(jam).to_contain_text("kiosk-topup-1", timeout=TIMEOUT_MS)
    order = cards.evaluate_all("els => els.map(e => e.dataset.testid)")
    jam_id = jam.get_attribute("data-testid")
    older = [f"alert-{alert_id}", page.locator("[data-kind=kiosk_capacity]").get_attribute("data-testid")]
    assert all(order.index(jam_id) < order.index(o) for o in older), order

    # English, on a 1920x1080 screen.
    page.get_by_role("button", name="English").click()
    expect(page.locator("[data-kind=expected_wait]")).to_contain_text("Expected wait too long")
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.screenshot(path=str(artifacts / "staff-1920x1080.png"), full_page=True)


def test_staff_page_asks_for_a_token_and_refuses_a_bad_one(live_server: LiveServer, page: Page) -> None:
    s = live_server
    page.goto(f"{s.url}/staff?lang=en")
    form = page.locator("#login")
    expect(form).to_be_visible()
    page.locator("#login-token").fill("lw_not-a-real-token")
    form.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("error")).to_contain_text("unknown or revoked token", timeout=TIMEOUT_MS)
    page.locator("#login-token").fill(s.tokens["manager"])
    form.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("conn")).to_have_attribute("data-state", "open", timeout=TIMEOUT_MS)
    expect(page.get_by_test_id("none")).to_have_text("No active alerts. All clear.")


def test_pages_carry_security_headers_and_run_under_their_policy(live_server: LiveServer, page: Page) -> None:
    """CSP, frame-ancestors, nosniff and referrer policy on every page and asset; the pages
    work under that policy (Chromium reports no violation) and drop ``?token=`` at once."""
    s = live_server
    for path in (f"/wall/{s.site}", "/staff", "/web/static/wall.js", "/web/static/base.css"):
        headers = httpx.get(s.url + path).headers
        csp = headers["content-security-policy"]
        assert "default-src 'self'" in csp, path
        assert "frame-ancestors 'none'" in csp
        assert "'unsafe-inline'" not in csp
        assert (headers["x-content-type-options"], headers["referrer-policy"]) == ("nosniff", "no-referrer")
        assert headers["x-frame-options"] == "DENY"
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    s.ingest(devices(s))
    page.goto(f"{s.url}/wall/{s.site}?token={s.tokens['display']}&lang=en")
    expect(page).to_have_url(f"{s.url}/wall/{s.site}?lang=en", timeout=TIMEOUT_MS)
    expect(page.get_by_test_id("device-kiosk-bill-1")).to_have_attribute("data-state", "faulted")
    page.goto(f"{s.url}/staff?token={s.tokens['manager']}")
    expect(page).to_have_url(f"{s.url}/staff", timeout=TIMEOUT_MS)
    expect(page.get_by_test_id("conn")).to_have_attribute("data-state", "open", timeout=TIMEOUT_MS)
    # The fragment form never reaches the server; it is dropped from the address bar too.
    page.evaluate("() => localStorage.clear()")
    page.goto(f"{s.url}/staff?lang=en#token={s.tokens['manager']}")
    expect(page).to_have_url(f"{s.url}/staff?lang=en", timeout=TIMEOUT_MS)
    expect(page.get_by_test_id("conn")).to_have_attribute("data-state", "open", timeout=TIMEOUT_MS)
    assert violations == []
