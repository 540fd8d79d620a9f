"""Every alert kind has text in both languages, filled from its rule's parameters."""

from __future__ import annotations

from datetime import datetime, timedelta

from lobbywatch.clock import FixedClock
from server.alerts.model import UpdateEvent
from server.alerts.rules import RULES
from server.alerts.templates import LANGS, TEMPLATES, render

from .helpers_hall import Hall, hall


class _Peak:
    def __init__(self, start: datetime) -> None:
        self.start = start

    def forecast(self, site: str) -> list[tuple[datetime, float]]:
        return [(self.start, 500.0)]


def test_every_kind_renders_in_both_languages(site_id: str, clock: FixedClock) -> None:
    assert set(RULES) == set(TEMPLATES)
    h = Hall(hall(site_id), clock, forecast=_Peak(clock.now() + timedelta(minutes=10)))
    h.engine.gateway_seen(site_id)
    h.counter("c1", "away")
    h.zone("entrance", occupancy=9, loitering=1, entered_total=0)
    h.zone("entrance", occupancy=9, loitering=1, entered_total=40)
    h.zone(
        "queue-a", occupancy=11, queue_length=5, longest_wait_s=700, waits_over_limit=2, expected_wait_s=900
    )
    h.zone("counter-1", occupancy=1, longest_wait_s=400)
    h.device_status("k1", state="online")
    h.device_event("k1", event="fault_raised", code="PRN_PAPER_OUT", unusable=True, detail="paper out")
    h.device_event("k2", event="out_of_service_on", by="hand")
    h.device_status("k3", state="offline", will=True)
    h.camera("cam-2", state="online", stream_ok=False)
    for _ in range(10):
        h.run(10)
        h.engine.gateway_seen(site_id)
    kinds = {u.alert.kind for u in h.fired_all()}
    assert kinds == set(RULES)
    for u in h.updates:
        for lang in LANGS:
            title, body = render(u.alert, lang, u.event)
            assert title != u.alert.kind, (u.alert.kind, title)
            assert "?" not in title, (u.alert.kind, lang, title)
            assert "?" not in body, (u.alert.kind, lang, body)
    acked = h.engine.acknowledge(h.fired_all()[0].alert.id, by="li", comment="好的")
    assert render(acked, "zh-CN", UpdateEvent.ACKNOWLEDGED)[1].endswith("（li 确认：好的）")
    assert render(acked, "en", UpdateEvent.ACKNOWLEDGED)[1].endswith("(by li: 好的)")
