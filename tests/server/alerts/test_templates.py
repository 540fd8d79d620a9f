"""Every alert kind has text in both languages, filled from its rule's parameters."""

from __future__ import annotations

from datetime import datetime, timedelta

from lobbywatch.clock import FixedClock
from server.alerts.model import UpdateEvent
from server.alerts.rules import RULES, OpenFault
from server.alerts.templates import LANGS, TEMPLATES, render

from .helpers_hall import Hall, hall


class _Peak:
    def __init__(self, start: datetime) -> None:
        self.start = start

    def forecast(self, site: str) -> list[tuple[datetime, float]]:
        return [(self.start, 500.0)]


class _Faults:
    def __init__(self, faults: list[OpenFault]) -> None:
        self.faults = faults

    def open_faults(self, site: str) -> list[OpenFault]:
        return self.faults


def test_every_kind_renders_in_both_languages(site_id: str, clock: FixedClock) -> None:
    assert set(RULES) == set(TEMPLATES)
    # a fault of v-one open since opening (09:00): 30 min is 75 % of its response target (a
    # warning) and past its repair target (missed)
    levels = {"vendors": [{"vendor": "v-one", "respond_min": 40, "repair_min": 20}]}
    fault = OpenFault(1, "k2", "v-one", "CARD_JAM", clock.now() - timedelta(minutes=30))
    h = Hall(
        hall(site_id, service_levels=levels),
        clock,
        forecast=_Peak(clock.now() + timedelta(minutes=10)),
        faults=_Faults([fault]),
    )
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
    h.engine.hall.clock_rejected(site_id, "k2", clock.now() + timedelta(days=400), "clock: ts ahead")
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


def test_every_text_key_renders_in_both_languages(site_id: str, clock: FixedClock) -> None:
    """Each key a rule puts in ``what``/``why`` and each mute reason has words in both languages."""
    from server.alerts.device_facts import OfflineReason
    from server.alerts.model import Alert, AlertKind, MuteReason
    from server.alerts.muting import MuteText
    from server.alerts.rules.sensing import SensingText
    from server.alerts.rules.vendor_sla import SlaText
    from server.alerts.templates import MUTE_TEXTS, TEXTS, mute_text

    assert set(TEXTS) == {*OfflineReason, *SensingText, *SlaText}
    assert set(MUTE_TEXTS) == set(MuteText)
    h = Hall(hall(site_id), clock)
    h.device_status("k1", state="online")
    h.run(200)  # k1's heartbeat is overdue: a device_offline alert to fill the text from
    [alert] = h.open("device_offline")
    params = {"camera": "cam-1", "hall": {"en": "Test Hall", "zh-CN": "测试营业厅"}, "silence_s": 60.0}
    for key in TEXTS:
        what = key if key in set(SensingText) else "gateway"
        probe: Alert = alert.evolve(kind=AlertKind.SENSING_BLIND, params={**params, "what": what, "why": key})
        texts = {lang: render(probe, lang)[1] for lang in LANGS}
        for lang, body in texts.items():
            assert "?" not in body, (key, lang, body)
            assert "{" not in body, (key, lang, body)
            assert TEXTS[key][lang].split("{")[0] in body, (key, lang, body)
        assert texts["en"] != texts["zh-CN"], key
    for key in MuteText:
        reason = MuteReason("silence", key, "3")
        words = {lang: mute_text(reason, lang) for lang in LANGS}
        assert all("{" not in w and "?" not in w for w in words.values()), words
        assert words["en"] != words["zh-CN"], key


def test_lists_of_ids_and_optional_detail(site_id: str, clock: FixedClock) -> None:
    h = Hall(hall(site_id), clock)
    h.zone("queue-a", occupancy=3, queue_length=3)
    [alert] = h.open("no_upsell")
    assert "Counters c1, c2:" in render(alert, "en")[1]
    assert "台席 c1、c2 请" in render(alert, "zh-CN")[1]
    nobody = alert.evolve(params={**alert.params, "counter_ids": []})
    assert "Counters none:" in render(nobody, "en")[1]
    assert "台席 无 请" in render(nobody, "zh-CN")[1]
    h.device_event("k1", event="fault_raised", code="E1", detail="paper out")
    h.device_event("k2", event="fault_raised", code="E2")
    with_detail, without = h.open("device_fault")
    assert "fault E1 (paper out)." in render(with_detail, "en")[1]
    assert "故障 E1（paper out）。" in render(with_detail, "zh-CN")[1]
    assert "fault E2. " in render(without, "en")[1]


def test_a_customers_care_task_speaks_of_one_customer(site_id: str, clock: FixedClock) -> None:
    h = Hall(hall(site_id), clock)
    h.zone("queue-a", occupancy=3, longest_wait_s=700, waits_over_limit=2)
    h.run(60)
    [zone_task] = [u.alert for u in h.fired_all() if u.alert.kind == "long_wait"]
    assert "(2 past the 10-min limit)" in render(zone_task, "en")[1]
    task = zone_task.evolve(subject="visit:cam-2:17")
    assert render(task, "en")[1].startswith("A customer in ")
    assert "past the 10-min limit. Guide" in render(task, "en")[1]
    assert "有一位客户已等候 12 分钟，超过 10 分钟" in render(task, "zh-CN")[1]
