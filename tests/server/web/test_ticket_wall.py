"""The wall page tells the wait per business type from the queue tickets (real Chromium)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from lobbywatch.protocol.tickets import TicketEvent

from .conftest import LiveServer

TIMEOUT_MS = 10_000


def test_wall_tells_the_wait_per_business_type(live_server: LiveServer, page: Page) -> None:
    s = live_server
    page.goto(f"{s.url}/wall/{s.site}?token={s.tokens['display']}&lang=en")
    issued = s.clock.now()
    tickets = [("A001", "new_subscription"), ("A002", "new_subscription"), ("B001", "sim_replacement")]
    s.ingest(
        [
            s.make(TicketEvent, "qms", event="issued", ticket=n, business=b, issued_at=issued)
            for n, b in tickets
        ]
    )
    new = page.get_by_test_id("business-new_subscription")
    expect(new).to_contain_text("New subscription", timeout=TIMEOUT_MS)
    expect(new).to_contain_text("2 tickets ahead")
    expect(new).to_contain_text("Wait 16 min")  # two of 8 min, no counter open yet: one assumed
    expect(new).to_have_attribute("data-level", "bad")
    expect(page.get_by_test_id("business-sim_replacement")).to_contain_text("Wait 3 min")
    page.get_by_role("button", name="中文").click()
    expect(new).to_contain_text("新装入网")
    expect(new).to_contain_text("前面 2 号")
