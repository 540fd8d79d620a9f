"""The wall page shows how many customers wait past the limit and how many a guide visited."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from lobbywatch.protocol.enums import ZoneKind
from lobbywatch.protocol.messages import ZoneState

from .conftest import LiveServer

TIMEOUT_MS = 10_000


def test_wall_counts_long_waits_and_visited_ones(live_server: LiveServer, page: Page) -> None:
    s = live_server
    long_waits = [{"visit": "aaa111", "wait_s": 700.0}, {"visit": "bbb222", "wait_s": 610.0}]
    state = s.make(
        ZoneState,
        "cam-counters",
        zone="waiting",
        kind=ZoneKind.WAITING,
        occupancy=5.0,
        count=5,
        longest_wait_s=700.0,
        waits_over_limit=2,
        entered_total=9,
        exited_total=4,
        long_waits=long_waits,
    )
    s.ingest([state])
    page.goto(f"{s.url}/wall/{s.site}?token={s.tokens['display']}&lang=en")
    kpi = page.get_by_test_id("kpi-longest-wait")
    expect(kpi).to_have_attribute("data-care", "2", timeout=TIMEOUT_MS)
    expect(kpi).to_have_attribute("data-visited", "0")
    tasks = {a.subject: a.id for a in s.alerts.engine.open_alerts(s.site) if a.kind == "long_wait"}
    assert set(tasks) == {"visit:cam-counters:aaa111", "visit:cam-counters:bbb222"}
    r = httpx.post(
        f"{s.url}/api/v1/alerts/{tasks['visit:cam-counters:aaa111']}/ack",
        headers={"Authorization": f"Bearer {s.tokens['manager']}"},
        json={"comment": "visited"},
    )
    assert r.status_code == 200, r.text
    expect(kpi).to_have_attribute("data-visited", "1", timeout=TIMEOUT_MS)
    expect(kpi).to_contain_text("2 past the limit, 1 visited")
