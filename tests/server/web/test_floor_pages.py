"""The counter display and the guide page in a real headless Chromium against a real server,
at phone (375×812) and tablet (1280×800) sizes, in both languages; the server is stopped and
started again under the open page, which says it is reconnecting and then shows the new
server's state. Screenshots go to test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from lobbywatch.clock import FixedClock
from lobbywatch.config import load_site_config
from lobbywatch.protocol.codec import to_dict
from lobbywatch.protocol.enums import ZoneKind
from lobbywatch.protocol.messages import Envelope, ZoneState
from lobbywatch.protocol.sequence import Stamper
from server.app import create_app
from server.core.config import InfluxConfig, ServerSettings
from server.core.security import create_token
from tests.helpers_asgi import ThreadedAsgiServer

from .conftest import write_hall

pytestmark = pytest.mark.real

TIMEOUT_MS = 10_000
PHONE = {"width": 375, "height": 812}
TABLET = {"width": 1280, "height": 800}
TOKENS: dict[str, dict[str, Any]] = {
    "gateway": {"role": "gateway"},
    "manager": {"role": "manager"},
    "guide": {"role": "guide"},
    "counter": {"role": "counter", "counter": "c1"},
}


@dataclass
class FloorServer:
    """The server on one port, which a test can stop and start again (same SQL, same port)."""

    settings: ServerSettings
    clock: FixedClock
    site: str
    port: int | None = None
    tokens: dict[str, str] = field(default_factory=dict)
    stampers: dict[str, Stamper] = field(default_factory=dict)
    running: ThreadedAsgiServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        app = create_app(self.settings, self.clock)
        self.running = ThreadedAsgiServer(app, "floor-test-server", port=self.port).start()
        self.port = self.running.port
        if not self.tokens:
            with app.state.ctx.db.session() as session:
                for name, spec in TOKENS.items():
                    made = {"created_at": self.clock.now(), "sites": [self.site], **spec}
                    _row, plain = create_token(session, name=f"{name}-zhao", **made)
                    assert plain is not None
                    self.tokens[name] = plain

    def stop(self) -> None:
        if self.running is not None:
            self.running.stop()
            self.running = None

    def ingest(self, messages: Sequence[Envelope]) -> None:
        body = {
            "gateway": "gw-1",
            "site": self.site,
            "sent_at": self.clock.now().isoformat(),
            "backlog": {"count": len(messages), "bytes": 100, "oldest_age_s": 0.1},
            "messages": [to_dict(m) for m in messages],
        }
        r = httpx.post(f"{self.url}/api/v1/ingest", json=body, headers=self.auth("gateway"), timeout=10)
        assert r.status_code == 200, r.text

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def zone(self, zone: str, kind: ZoneKind, n: int, longest_s: float | None) -> ZoneState:
        cam = "cam-counters"
        st = self.stampers.setdefault(cam, Stamper(self.site, cam, clock=self.clock))
        msg: ZoneState = st.make(
            ZoneState,
            zone=zone,
            kind=kind,
            occupancy=float(n),
            count=n,
            queue_length=n if kind == ZoneKind.QUEUE else None,
            longest_wait_s=longest_s,
            longest_wait_at=(0.7, 0.4) if longest_s else None,
            entered_total=30,
            exited_total=30 - n,
        )
        return msg

    def floor(self, queue: int, queue_wait_s: float, desk_s: float, waiting_s: float | None = None) -> None:
        """The counter line, counter 1's desk and (optionally) the waiting area, twice, two
        minutes apart (past every rule's hold time)."""
        for extra in (0.0, 120.0):
            msgs = [
                self.zone("queue-main", ZoneKind.QUEUE, queue, queue_wait_s + extra),
                self.zone("counter-1", ZoneKind.COUNTER, 1, desk_s + extra),
            ]
            if waiting_s is not None:
                msgs.append(self.zone("waiting", ZoneKind.WAITING, 3, waiting_s + extra))
            if extra:
                self.clock.advance(extra)
            self.ingest(msgs)


@pytest.fixture
def floor_server(tmp_path: Path, clock: FixedClock, site_id: str) -> Iterator[FloorServer]:
    settings = ServerSettings(
        sql_url=f"sqlite:///{tmp_path / 'server.sqlite3'}",
        influx=InfluxConfig(enabled=False),
        halls=[write_hall(tmp_path, site_id)],
    )
    server = FloorServer(settings, clock, site_id)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def fits(page: Page) -> bool:
    """Nothing is wider than the screen (phones scroll down, never sideways)."""
    return bool(page.evaluate("() => document.documentElement.scrollWidth <= innerWidth"))


def open_page(browser: Browser, url: str, viewport: dict[str, int]) -> Page:
    context = browser.new_context(viewport=viewport, locale="en-US")  # type: ignore[arg-type]
    page = context.new_page()
    page.goto(url)
    return page


def test_counter_display_shows_the_counter_sets_its_state_and_survives_a_restart(
    floor_server: FloorServer, browser: Browser, artifacts: Path
) -> None:
    s = floor_server
    page = open_page(browser, f"{s.url}/counter/{s.site}/c1?lang=en#token={s.tokens['counter']}", TABLET)
    try:
        expect(page.get_by_test_id("conn")).to_have_attribute("data-state", "open", timeout=TIMEOUT_MS)
        expect(page.get_by_test_id("name")).to_have_text("Counter 1")
        light = page.get_by_test_id("no-upsell")
        expect(light).to_have_attribute("data-on", "false")
        expect(light).to_contain_text("Upselling OK")
        expect(page.get_by_test_id("state-now")).to_have_text("Not reported yet")

        s.floor(queue=7, queue_wait_s=900.0, desk_s=150.0)
        expect(light).to_have_attribute("data-on", "true", timeout=TIMEOUT_MS)
        expect(light).to_contain_text("No upselling now")
        expect(light).to_contain_text("7 people in line (limit 3)")
        expect(page.get_by_test_id("queue")).to_contain_text("7")
        tx = page.get_by_test_id("transaction")
        expect(tx).to_contain_text("4:30")
        expect(tx).to_contain_text("Over the 3:00 limit")
        expect(tx).to_have_attribute("data-level", "bad")

        page.get_by_test_id("set-learning").click()
        expect(page.get_by_test_id("state-now")).to_have_text("Learning", timeout=TIMEOUT_MS)
        expect(page.get_by_test_id("set-learning")).to_have_attribute("aria-pressed", "true")
        live = httpx.get(f"{s.url}/api/v1/sites/{s.site}/live", headers=s.auth("manager")).json()
        assert [(c["counter"], c["state"]) for c in live["counters"]] == [("c1", "learning")]
        assert fits(page)
        page.screenshot(path=str(artifacts / "counter-1280x800.png"))

        page.set_viewport_size(PHONE)  # type: ignore[arg-type]
        page.get_by_role("button", name="中文").click()
        expect(light).to_contain_text("暂停营销")
        expect(page.get_by_test_id("state-now")).to_have_text("学习")
        expect(page.get_by_test_id("set-serving")).to_have_text("受理")
        assert fits(page)
        page.screenshot(path=str(artifacts / "counter-zh-375x812.png"), full_page=True)

        # The server goes away under the page: it says so, and keeps trying.
        s.stop()
        expect(page.get_by_test_id("conn")).to_have_attribute(
            "data-state", "reconnecting", timeout=TIMEOUT_MS
        )
        expect(page.get_by_test_id("banner")).to_contain_text("正在重连")
        page.screenshot(path=str(artifacts / "counter-zh-reconnecting-375x812.png"), full_page=True)

        # A new server process on the same address: the page reconnects by itself and shows
        # that server's state (a short line; the counter's state set anew).
        s.start()
        s.floor(queue=1, queue_wait_s=60.0, desk_s=30.0)
        httpx.post(
            f"{s.url}/api/v1/sites/{s.site}/counters/c1/state",
            json={"state": "serving"},
            headers=s.auth("counter"),
        ).raise_for_status()
        expect(page.get_by_test_id("conn")).to_have_attribute("data-state", "open", timeout=20_000)
        expect(page.get_by_test_id("banner")).to_be_hidden()
        expect(page.get_by_test_id("state-now")).to_have_text("受理", timeout=TIMEOUT_MS)
        expect(light).to_have_attribute("data-on", "false", timeout=TIMEOUT_MS)
        expect(page.get_by_test_id("queue")).to_contain_text("1")
        expect(tx).to_contain_text("2:30")
    finally:
        page.context.close()


def test_guide_page_lists_care_tasks_newest_first_and_acknowledges(
    floor_server: FloorServer, browser: Browser, artifacts: Path
) -> None:
    s = floor_server
    page = open_page(browser, f"{s.url}/guide/{s.site}?lang=zh-CN#token={s.tokens['guide']}", PHONE)
    try:
        expect(page).to_have_url(f"{s.url}/guide/{s.site}?lang=zh-CN", timeout=TIMEOUT_MS)
        expect(page.get_by_test_id("conn")).to_have_attribute("data-state", "open", timeout=TIMEOUT_MS)
        expect(page.get_by_test_id("none")).to_have_text("暂无等候过久的客户。")

        s.floor(queue=4, queue_wait_s=1000.0, desk_s=60.0)  # someone in the line waits too long
        s.clock.advance(60)
        s.floor(queue=4, queue_wait_s=1180.0, desk_s=60.0, waiting_s=1300.0)  # and in the waiting area
        tasks = page.get_by_test_id("tasks").locator("article")
        expect(tasks).to_have_count(2, timeout=TIMEOUT_MS)
        expect(tasks.first.get_by_test_id("where")).to_have_text("位置：等候区")  # the newest first
        expect(tasks.nth(1).get_by_test_id("where")).to_have_text("位置：排队区")
        expect(tasks.first.get_by_test_id("meta")).to_contain_text("已等候 24 分钟")
        expect(page.get_by_test_id("summary")).to_have_text("2 条未恢复 · 2 条未接单")

        tasks.first.get_by_test_id("ack").click()
        expect(tasks.first.get_by_test_id("acked")).to_have_text("✓ 已由 guide-zhao 接单", timeout=TIMEOUT_MS)
        expect(tasks.first.get_by_test_id("ack")).to_be_hidden()
        expect(page.get_by_test_id("summary")).to_have_text("2 条未恢复 · 1 条未接单")
        assert fits(page)
        page.screenshot(path=str(artifacts / "guide-zh-375x812.png"), full_page=True)

        # The server restarts; meanwhile the line's task is taken by the manager elsewhere.
        s.stop()
        expect(page.get_by_test_id("conn")).to_have_attribute(
            "data-state", "reconnecting", timeout=TIMEOUT_MS
        )
        expect(page.get_by_test_id("banner")).to_be_visible()
        s.start()
        care = httpx.get(f"{s.url}/api/v1/sites/{s.site}/care", headers=s.auth("manager")).json()
        line = next(t["alert"]["id"] for t in care["tasks"] if t["alert"]["zone"] == "queue-main")
        taken = httpx.post(f"{s.url}/api/v1/alerts/{line}/ack", json={}, headers=s.auth("manager"))
        assert taken.status_code == 200, taken.text
        expect(page.get_by_test_id("conn")).to_have_attribute("data-state", "open", timeout=20_000)
        expect(page.get_by_test_id("banner")).to_be_hidden()
        expect(tasks.nth(1).get_by_test_id("acked")).to_have_text(
            "✓ 已由 manager-zhao 接单", timeout=TIMEOUT_MS
        )

        page.set_viewport_size(TABLET)  # type: ignore[arg-type]
        page.get_by_role("button", name="English").click()
        expect(tasks.first.get_by_test_id("where")).to_have_text("Where: Waiting area")
        expect(page.get_by_test_id("summary")).to_have_text("2 open · 0 not taken")
        assert fits(page)
        page.screenshot(path=str(artifacts / "guide-1280x800.png"))
    finally:
        page.context.close()


def test_guide_page_shows_where_the_customer_stands_on_the_floor_plan(
    floor_server: FloorServer, browser: Browser, artifacts: Path
) -> None:
    """A customer waits past the limit in the counter queue of a calibrated camera: the care
    task carries their own image point and floor point, and the guide page shows the floor
    sketch and "x m, y m" in both languages."""
    s = floor_server
    cfg = load_site_config(s.settings.halls[0])
    calibration = next(c for c in cfg.cameras if c.id == "cam-counters").floor
    assert calibration is not None
    at = calibration.plan.to_image((10.0, 6.0))
    assert at is not None
    st = s.stampers.setdefault("cam-counters", Stamper(s.site, "cam-counters", clock=s.clock))
    for wait_s in (5.0, 605.0):
        if wait_s > 5.0:
            s.clock.advance(600)
        wait = {"visit": "v0042", "wait_s": wait_s, "at": at}
        s.ingest(
            [
                st.make(
                    ZoneState,
                    zone="queue-main",
                    kind=ZoneKind.QUEUE,
                    occupancy=2.0,
                    count=2,
                    queue_length=2,
                    longest_wait_s=wait_s,
                    longest_wait_at=(0.1, 0.9),  # someone else: never the task's customer
                    entered_total=2,
                    exited_total=0,
                    waiting=[wait],
                    long_waits=[wait] if wait_s >= 600 else [],
                )
            ]
        )
    care = httpx.get(f"{s.url}/api/v1/sites/{s.site}/care", headers=s.auth("guide")).json()
    assert care["floor_plan"] == {"min": [0.0, 0.5], "max": [20.0, 12.0]}
    [task] = care["tasks"]
    assert task["floor"] == [10.0, 6.0]
    assert task["position"] == pytest.approx(list(at))

    page = open_page(browser, f"{s.url}/guide/{s.site}?lang=zh-CN#token={s.tokens['guide']}", PHONE)
    try:
        card = page.get_by_test_id("tasks").locator("article")
        expect(card).to_have_count(1, timeout=TIMEOUT_MS)
        expect(card.get_by_test_id("where")).to_have_text("位置：排队区")
        expect(card.get_by_test_id("spot")).to_have_text("平面图位置：x 10.0 米，y 6.0 米")
        expect(card.get_by_test_id("floor")).to_be_visible()
        expect(card.get_by_test_id("floor")).to_have_attribute("aria-label", "客户在营业厅平面图中的位置")
        expect(card.get_by_test_id("view")).to_be_hidden()
        spot = card.get_by_test_id("floor-spot")
        assert (spot.get_attribute("cx"), spot.get_attribute("cy")) == ("10", "6")
        assert fits(page)
        page.screenshot(path=str(artifacts / "guide-floor-zh-375x812.png"), full_page=True)
        page.get_by_role("button", name="English").click()
        expect(card.get_by_test_id("spot")).to_have_text("On the floor plan: x 10.0 m, y 6.0 m")
        assert fits(page)
        page.screenshot(path=str(artifacts / "guide-floor-en-375x812.png"), full_page=True)
    finally:
        page.context.close()


def test_floor_pages_refuse_other_tokens_and_run_under_their_policy(
    floor_server: FloorServer, browser: Browser
) -> None:
    s = floor_server
    for path in (
        f"/counter/{s.site}/c1",
        f"/guide/{s.site}",
        "/web/static/floor.js",
        "/web/static/floor.css",
    ):
        headers = httpx.get(s.url + path).headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path
    violations: list[str] = []
    # A counter token on another counter's display, a guide token on a counter display.
    for path, role in ((f"/counter/{s.site}/c2", "counter"), (f"/counter/{s.site}/c1", "guide")):
        page = open_page(browser, f"{s.url}{path}?lang=en#token={s.tokens[role]}", PHONE)
        page.on(
            "console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None
        )
        try:
            expect(page.get_by_test_id("conn")).to_have_attribute("data-state", "denied", timeout=TIMEOUT_MS)
            expect(page.get_by_test_id("banner")).to_contain_text("refused")
        finally:
            page.context.close()
    page = open_page(browser, f"{s.url}/guide/{s.site}?lang=en#token={s.tokens['counter']}", PHONE)
    try:
        expect(page.get_by_test_id("login-msg")).to_be_visible(timeout=TIMEOUT_MS)
        expect(page.get_by_test_id("login-msg")).to_have_text("Enter your guide token.")
    finally:
        page.context.close()
    assert violations == []
