"""Lifecycle: acknowledge, escalation timing, silences, inhibition, flap suppression, storage."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lobbywatch.clock import FixedClock
from lobbywatch.config.notify import Silence
from lobbywatch.protocol.enums import AlertState
from server.alerts.model import UpdateEvent
from server.alerts.store import SqlAlertStore

from .helpers_hall import Hall, hall


def _crowd(h: Hall) -> str:
    h.zone("waiting", occupancy=3, longest_wait_s=700, waits_over_limit=1)
    return h.fired("long_wait")[0].alert.id


def test_escalation_when_unacknowledged(site_id: str, clock: FixedClock) -> None:
    h = Hall(hall(site_id), clock)
    alert_id = _crowd(h)
    h.run(299)
    assert h.events(event=UpdateEvent.ESCALATED) == []
    h.run(1)
    first = h.events(event=UpdateEvent.ESCALATED)
    assert len(first) == 1
    assert first[0].audience == ("manager",)
    assert first[0].channels == ("managers",)
    assert first[0].at - h.fired("long_wait")[0].at == timedelta(minutes=5)
    h.run(599)
    assert len(h.events(event=UpdateEvent.ESCALATED)) == 1
    h.run(1)
    second = h.events(event=UpdateEvent.ESCALATED)[1]
    assert (second.audience, second.channels) == (("regional",), ("regional",))
    assert h.engine.get(alert_id) is not None
    h.run(3600, step=60)
    assert len(h.events(event=UpdateEvent.ESCALATED)) == 2
    # resolution is told to the escalation channels as well
    h.zone("waiting", occupancy=1, longest_wait_s=10)
    h.run(30)
    assert h.notifier.channels_for(alert_id, UpdateEvent.RESOLVED) == {"floor", "managers", "regional"}


def test_acknowledge_records_who_when_and_stops_escalation(site_id: str, clock: FixedClock) -> None:
    h = Hall(hall(site_id), clock)
    alert_id = _crowd(h)
    h.run(120)
    acked = h.engine.acknowledge(alert_id, by="wang.li", comment="on my way")
    assert acked.state == AlertState.ACKNOWLEDGED
    assert (acked.acked_by, acked.acked_at, acked.ack_comment) == ("wang.li", clock.now(), "on my way")
    stored = h.store.get(alert_id)
    assert stored is not None
    assert stored.state == AlertState.ACKNOWLEDGED
    assert h.events(event=UpdateEvent.ACKNOWLEDGED)[0].channels == ("floor",)
    h.run(1800, step=30)
    assert h.events(event=UpdateEvent.ESCALATED) == []
    h.zone("waiting", occupancy=1, longest_wait_s=10)
    h.run(30)
    final = h.store.get(alert_id)
    assert final is not None
    assert final.state == AlertState.RESOLVED
    assert final.acked_by == "wang.li"
    with pytest.raises(KeyError):
        h.engine.acknowledge(alert_id, by="x")


def test_maintenance_silence_quiets_then_lets_through(site_id: str, clock: FixedClock) -> None:
    h = Hall(hall(site_id), clock)
    window = Silence(
        devices=["k1"],
        starts=clock.now(),
        ends=clock.now() + timedelta(minutes=20),
        reason="vendor on site",
    )
    h.engine.add_silence(site_id, window)
    h.device_event("k1", event="fault_raised", code="PRN_PAPER_OUT", unusable=True)
    h.device_event("k2", event="fault_raised", code="PRN_PAPER_OUT", unusable=True)
    fired = h.fired("device_fault")
    assert [(u.alert.device, u.notify) for u in fired] == [("k1", False), ("k2", True)]
    sent = {u.alert.device for _, us in h.notifier.batches for u in us if u.alert.kind == "device_fault"}
    assert sent == {"k2"}
    h.run(20 * 60, step=30)
    # silenced alerts do not escalate; when the window ends, a still-firing alert is told once
    k1_updates = [
        u
        for _, us in h.notifier.batches
        for u in us
        if u.alert.device == "k1" and u.alert.kind == "device_fault"
    ]
    assert [u.event for u in k1_updates] == [UpdateEvent.FIRED]
    assert not k1_updates[0].alert.silenced


def test_silence_from_config_by_kind(site_id: str, clock: FixedClock) -> None:
    silence = {
        "kinds": ["loitering"],
        "starts": "2026-11-23T00:00:00Z",
        "ends": "2026-11-24T00:00:00Z",
        "reason": "event in the hall",
    }
    cfg = hall(site_id, notifications={"silences": [silence]})
    h = Hall(cfg, clock)
    h.zone("entrance", occupancy=1, loitering=2)
    assert [u.notify for u in h.fired("loitering")] == [False]
    assert h.notifier.batches == []


def test_silent_gateway_inhibits_device_offline(site_id: str, clock: FixedClock) -> None:
    h = Hall(hall(site_id), clock)
    h.engine.gateway_seen(site_id, gateway="gw", backlog=0)
    for k in ("k1", "k2", "k3"):
        h.device_status(k, state="online", heartbeat_s=30)
    h.run(60)
    assert h.fired("sensing_blind") == []
    h.run(1)  # more than gateway_silence_s (60 s) without an ingest batch
    blind = h.fired("sensing_blind")
    assert [u.alert.subject for u in blind] == ["gateway"]
    h.run(600, step=10)  # heartbeats are long overdue, but the hall is cut off
    assert h.fired("device_offline") == []
    assert h.fired("kiosk_capacity") == []
    h.engine.gateway_seen(site_id, gateway="gw", backlog=0)
    assert len(h.events("sensing_blind", UpdateEvent.RESOLVED)) == 1
    for k in ("k1", "k2", "k3"):
        h.heartbeat(k)
    h.run(60)
    assert h.fired("device_offline") == []


def test_gateway_backlog_holds_back_offline(site_id: str, clock: FixedClock) -> None:
    h = Hall(hall(site_id), clock)
    h.engine.gateway_seen(site_id)
    h.device_status("k1", state="online", heartbeat_s=30)
    for _ in range(20):
        h.run(10)
        h.engine.gateway_seen(site_id, backlog=5000, oldest_age_s=300)
    assert h.fired("device_offline") == []
    h.engine.gateway_seen(site_id, backlog=0)  # caught up: k1's heartbeat clock restarts now
    for _ in range(11):
        h.run(10)
        h.engine.gateway_seen(site_id)
    h.run(9)
    assert h.fired("device_offline") == []
    h.run(1)  # 30 s heartbeat + 90 s grace after catching up
    assert [u.alert.device for u in h.fired("device_offline")] == ["k1"]


def test_flapping_condition_reopens_one_alert_and_goes_quiet(site_id: str, clock: FixedClock) -> None:
    h = Hall(hall(site_id), clock)
    ids = set()
    for _ in range(5):
        h.zone("experience", occupancy=1, loitering=1)
        h.run(5)
        h.zone("experience", occupancy=1, loitering=0)
        h.run(30)
        ids |= {u.alert.id for u in h.fired("loitering")}
    fired = h.fired("loitering")
    assert len(ids) == 1, "a flapping condition is one alert"
    assert [u.event for u in fired] == [UpdateEvent.FIRED] + [UpdateEvent.REOPENED] * 4
    assert [u.notify for u in fired] == [True, True, True, False, False]  # flap_max = 2
    assert h.engine.stats.suppressed == 2


def test_sql_store_round_trip_and_engine_restart(sql_url: str, site_id: str, clock: FixedClock) -> None:
    store = SqlAlertStore(sql_url)
    h = Hall(hall(site_id), clock, store=store)
    alert_id = _crowd(h)
    h.device_event("k1", event="fault_raised", code="PRN_PAPER_OUT", unusable=True)
    h.run(10)
    h.engine.acknowledge(alert_id, by="zhang", comment="已处理")
    got = store.get(alert_id)
    assert got is not None
    assert got.state == AlertState.ACKNOWLEDGED
    assert got.ack_comment == "已处理"
    assert got.acked_at == clock.now()
    assert got.params["where"] == {"en": "waiting", "zh-CN": "waiting"}
    assert {a.kind for a in store.open_alerts(site_id)} == {"long_wait", "device_fault"}
    # a restarted engine keeps the same alerts: the same condition is not a new alert
    store2 = SqlAlertStore(sql_url)
    h2 = Hall(hall(site_id), clock, store=store2)
    h2.zone("waiting", occupancy=3, longest_wait_s=900, waits_over_limit=1)
    assert h2.fired("long_wait") == []
    h2.zone("waiting", occupancy=0, longest_wait_s=0)
    h2.run(30)
    resolved = h2.events("long_wait", UpdateEvent.RESOLVED)
    assert [u.alert.id for u in resolved] == [alert_id]
    assert [a.kind for a in store2.open_alerts(site_id)] == ["device_fault"]
    assert [a.id for a in store2.history(site_id)][-1] == alert_id or alert_id in {
        a.id for a in store2.history(site_id)
    }


def test_service_ticks_on_its_own(site_id: str) -> None:
    from lobbywatch.clock import SystemClock
    from lobbywatch.services import wait_until
    from server.alerts.service import AlertService
    from server.alerts.store import MemoryAlertStore

    cfg = hall(site_id, thresholds={"hall_capacity": 20, "crowding_hold_s": 0.5})
    written: list[object] = []
    service = AlertService(
        [cfg], clock=SystemClock(), store=MemoryAlertStore(), write_points=written.extend, tick_s=0.05
    )
    service.start()
    try:
        h = Hall(cfg, FixedClock(SystemClock().now()))
        h.engine = service.engine
        h.engine.gateway_seen(site_id)
        # crowding held 0.5 s fires from a tick of the service's own timer, with no new message
        h.zone("entrance", occupancy=9)
        assert service.engine.open_alerts(site_id) == []
        assert wait_until(lambda: bool(service.engine.open_alerts(site_id)), 5)
        assert wait_until(lambda: len(written) >= 1, 5)
    finally:
        service.stop()


def test_silent_gateway_holds_back_zone_alerts_too(site_id: str, clock: FixedClock) -> None:
    h = Hall(hall(site_id, thresholds={"hall_capacity": 20, "crowding_hold_s": 120}), clock)
    h.engine.gateway_seen(site_id)
    h.zone("entrance", occupancy=8)  # over capacity; the hold would end at 120 s
    h.run(300)  # the gateway is silent from 61 s: the zone's last reading is stale
    assert h.fired("crowding") == []
    assert [u.alert.subject for u in h.fired("sensing_blind")] == ["gateway"]
    h.engine.gateway_seen(site_id)
    h.zone("entrance", occupancy=8)  # fresh data after the hall is back
    h.run(1)
    assert [u.alert.subject for u in h.fired("crowding")] == ["zone:entrance"]


def test_unknown_site_and_bad_rule_input_do_not_stop_the_engine(site_id: str, clock: FixedClock) -> None:
    from lobbywatch.protocol.messages import DeviceHeartbeat
    from lobbywatch.protocol.sequence import Stamper

    h = Hall(hall(site_id), clock)
    stray = Stamper("other-hall", "k9", clock=clock).make(DeviceHeartbeat, uptime_s=1, interval_s=30)
    assert h.engine.feed(stray) == []
    assert h.engine.stats.unknown_site == 1
    h.zone("entrance", occupancy=1, loitering=1)
    assert len(h.fired("loitering")) == 1
