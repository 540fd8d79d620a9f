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


def test_wall_counts_a_customer_two_cameras_see_once(live_server: LiveServer, page: Page) -> None:
    """Both calibrated cameras of the hall see one customer standing where their views overlap,
    each as its own visit past the limit: the wall counts the care tasks (one customer), not
    the cameras' lists (two)."""
    s = live_server
    cfg = s.app.state.ctx.registry.configs[s.site]
    spot = (10.0, 6.0)  # metres: on the floor both views share
    views = {
        "cam-entrance": ("experience", ZoneKind.EXPERIENCE),
        "cam-counters": ("queue-main", ZoneKind.QUEUE),
    }

    def states(wait_s: float) -> list[ZoneState]:
        out = []
        for camera, (zone, kind) in views.items():
            plan = next(c for c in cfg.cameras if c.id == camera).floor.plan
            at = plan.to_image(spot)
            assert at is not None
            wait = {"visit": f"{camera[4:7]}001", "wait_s": wait_s, "at": at}
            over = [wait] if wait_s >= 600 else []
            out.append(
                s.make(
                    ZoneState,
                    camera,
                    zone=zone,
                    kind=kind,
                    occupancy=1.0,
                    count=1,
                    queue_length=1 if kind == ZoneKind.QUEUE else None,
                    longest_wait_s=wait_s,
                    waits_over_limit=len(over),
                    entered_total=1,
                    exited_total=0,
                    long_waits=over,
                    waiting=[wait],
                )
            )
        return out

    s.ingest(states(5.0))
    s.clock.advance(600)
    s.ingest(states(605.0))
    tasks = [a for a in s.alerts.engine.open_alerts(s.site) if a.kind == "long_wait"]
    assert [a.subject for a in tasks] == ["visit:cam-entrance:ent001"]
    page.goto(f"{s.url}/wall/{s.site}?token={s.tokens['display']}&lang=en")
    kpi = page.get_by_test_id("kpi-longest-wait")
    expect(kpi).to_have_attribute("data-care", "1", timeout=TIMEOUT_MS)
    expect(kpi).to_contain_text("1 past the limit, 0 visited")
