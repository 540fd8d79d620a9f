"""Late data (server/alerts/late.py): a backlog replayed after an outage is judged on its own
time; what started and ended inside it is recorded, not sent; what is still true at its end
is sent once, saying since when."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lobbywatch.clock import FixedClock
from lobbywatch.config.notify import Silence
from lobbywatch.protocol.enums import AlertState
from server.alerts.model import Alert, AlertUpdate, UpdateEvent
from server.alerts.templates import render

from .helpers_hall import Hall, hall

pytestmark = pytest.mark.unit

BACKLOG_S = 2 * 3600
"""Two hours of the hall's data, uploaded in batches after an outage."""


def _sent(h: Hall) -> list[AlertUpdate]:
    return [u for _, batch in h.notifier.batches for u in batch]


def _history(h: Hall, kind: str) -> list[Alert]:
    return [a for a in h.store.history(h.cfg.site) if a.kind == kind]


def _replay(h: Hall, data: FixedClock, minutes: int, minute: int, upload_s: float = 1.0) -> None:
    """One batch a data minute (each taking ``upload_s`` of the server's time): the gateway
    says its backlog is stale until the last one; a queue whose longest wait passes the
    10-min care limit from data minute 30 to 50, kiosk k1's fault from minute 90 on."""
    site = h.cfg.site
    for _ in range(minutes):
        age = (h.clock.now() - data.now()).total_seconds()
        h.engine.gateway_seen(site, backlog=1000, oldest_age_s=age)
        wait = 700.0 if 30 <= minute < 50 else 60.0
        h.zone("queue-a", occupancy=2, queue_length=1, longest_wait_s=wait, expected_wait_s=120)
        for device in ("k1", "k2", "k3"):
            h.heartbeat(device)
        if minute == 90:
            h.device_event("k1", event="fault_raised", code="PRN_PAPER_OUT", unusable=True)
        data.advance(60)
        minute += 1
        h.run(upload_s)


def _live(h: Hall, data: FixedClock, seconds: int) -> None:
    """The hall live again: a batch with its kiosks' heartbeats every 10 s of the server's time."""
    for _ in range(seconds // 10):
        data.set(h.clock.now())
        h.engine.gateway_seen(h.cfg.site, backlog=0, oldest_age_s=0.0)
        for device in ("k1", "k2", "k3"):
            h.heartbeat(device)
        h.run(10)


def test_a_backlog_pages_only_what_is_still_true_at_its_end(site_id: str, clock: FixedClock) -> None:
    start = clock.now()  # 09:30 in the hall
    data = FixedClock(start)
    clock.advance(BACKLOG_S)  # the server's clock: the hall was cut off for two hours
    h = Hall(hall(site_id), clock, data_clock=data)
    _replay(h, data, BACKLOG_S // 60, 0)
    assert _sent(h) == [], "an update from the backlog was sent while it was replayed"
    _live(h, data, 10)  # caught up

    (wait,) = _history(h, "long_wait")
    assert wait.state == AlertState.RESOLVED
    assert wait.late, "the history does not say it was late"
    assert (wait.started_at, wait.resolved_at) == (
        start + timedelta(minutes=30),
        start + timedelta(minutes=51),
    )
    skipped = h.store.deliveries(wait.id)
    assert skipped, "the delivery log does not say it was held back"
    assert all(d.skipped == "late: backlog" and not d.ok for d in skipped)

    sent = _sent(h)
    assert [(u.alert.kind, u.event) for u in sent] == [("device_fault", UpdateEvent.FIRED)]
    fault = sent[0].alert
    assert fault.started_at == start + timedelta(minutes=90)  # the data's own time
    assert fault.muted is None
    assert fault.params["since"] == "11:00"  # in the hall's time zone
    assert render(fault, "en")[1].endswith(" Since 11:00 (the hall's data arrived late).")
    assert render(fault, "zh-CN")[1].endswith("自 11:00 起（营业厅数据延迟上报）。")

    _live(h, data, 4 * 60)  # escalation counts from when it was sent, not from two hours ago
    assert [u.event for u in _sent(h)] == [UpdateEvent.FIRED]
    _live(h, data, 60)
    assert [u.event for u in _sent(h)] == [UpdateEvent.FIRED, UpdateEvent.ESCALATED]


def test_hold_times_in_a_backlog_run_on_the_data_time(site_id: str, clock: FixedClock) -> None:
    """Crowding must hold 60 s: in a backlog that is 60 s of the data, however fast it uploads."""
    start = clock.now()
    data = FixedClock(start)
    clock.advance(3600)
    h = Hall(hall(site_id), clock, data_clock=data)
    h.engine.gateway_seen(site_id, backlog=500, oldest_age_s=3600)
    for occupancy in (9, 9, 9, 9, 1, 1, 9, 9, 1, 1):  # 30 s apart: 90 s over, then 30 s over
        h.zone("entrance", occupancy=occupancy)
        data.advance(30)
        h.run(0.1, step=0.1)
    h.engine.gateway_seen(site_id, backlog=0, oldest_age_s=0.0)
    h.run(2)
    (crowding,) = _history(h, "crowding")
    assert crowding.started_at == start + timedelta(seconds=60)
    assert crowding.resolved_at == start + timedelta(seconds=150)
    assert crowding.late
    assert _sent(h) == []


def test_late_data_from_a_hall_not_catching_up_is_sent_at_the_next_tick(
    site_id: str, clock: FixedClock
) -> None:
    """Without a gateway saying it is behind, a late message's alert is sent on the next tick."""
    data = FixedClock(clock.now())
    clock.advance(600)
    h = Hall(hall(site_id), clock, data_clock=data)
    h.device_event("k1", event="fault_raised", code="PRN_PAPER_OUT", unusable=True)
    assert _sent(h) == []
    h.run(1)
    (update,) = [u for u in _sent(h) if u.alert.kind == "device_fault"]
    assert (update.event, update.alert.params["since"]) == (UpdateEvent.FIRED, "09:30")


def _late_fault(site_id: str, clock: FixedClock) -> Hall:
    """k1's fault, ten minutes old, in the backlog of a hall that is still catching up."""
    data = FixedClock(clock.now())
    clock.advance(600)
    h = Hall(hall(site_id), clock, data_clock=data)
    h.engine.gateway_seen(site_id, backlog=100, oldest_age_s=600)
    h.device_event("k1", event="fault_raised", code="PRN_PAPER_OUT", unusable=True)
    return h


def _fault_updates(h: Hall) -> list[AlertUpdate]:
    return [u for u in _sent(h) if u.alert.kind == "device_fault"]


def test_an_alert_acknowledged_during_the_catch_up_is_not_sent(site_id: str, clock: FixedClock) -> None:
    h = _late_fault(site_id, clock)
    (fault,) = h.open("device_fault")
    assert fault.late
    h.engine.acknowledge(fault.id, by="li")
    h.engine.gateway_seen(site_id, backlog=0, oldest_age_s=0.0)
    h.run(1)
    assert _fault_updates(h) == []
    (fault,) = h.open("device_fault")
    assert (fault.state, fault.muted) == (AlertState.ACKNOWLEDGED, None)


def test_a_silence_holds_a_late_alert_until_it_ends(site_id: str, clock: FixedClock) -> None:
    h = _late_fault(site_id, clock)
    ends = clock.now() + timedelta(seconds=30)
    h.engine.add_silence(site_id, Silence(devices=["k1"], starts=clock.now(), ends=ends, reason="repair"))
    h.engine.gateway_seen(site_id, backlog=0, oldest_age_s=0.0)
    h.run(1)
    assert _fault_updates(h) == []
    (fault,) = h.open("device_fault")
    assert fault.silenced
    for _ in range(4):
        h.engine.gateway_seen(site_id)
        h.run(10)
    (update,) = _fault_updates(h)
    assert (update.event, update.alert.params["since"]) == (UpdateEvent.FIRED, "09:30")


def test_fresh_data_during_a_catch_up_runs_the_timers_on_the_servers_clock(
    site_id: str, clock: FixedClock
) -> None:
    """A gateway that keeps saying it is behind while its messages are current again (a
    loaded demo at 80x): the crowding hold runs on the server's clock, and the alert is sent."""
    data = FixedClock(clock.now() - timedelta(minutes=10))
    h = Hall(hall(site_id), clock, data_clock=data)
    h.engine.gateway_seen(site_id, backlog=500, oldest_age_s=600)
    h.zone("entrance", occupancy=1)  # late
    data.set(clock.now())
    h.zone("entrance", occupancy=9)  # fresh, over capacity
    for _ in range(7):
        h.engine.gateway_seen(site_id, backlog=500, oldest_age_s=600)
        h.run(10)
    (update,) = [u for u in _sent(h) if u.alert.kind == "crowding"]
    assert "since" not in update.alert.params
