"""Each floor rule with a scripted message sequence and the injected clock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from lobbywatch.clock import FixedClock
from server.alerts.model import UpdateEvent
from server.alerts.templates import render

from .helpers_hall import Hall, hall


def test_crowding_fires_once_after_hold_and_clears_with_hysteresis(site_id: str, clock: FixedClock) -> None:
    h = Hall(hall(site_id), clock)
    h.zone("entrance", occupancy=6.0)
    h.run(59)
    assert h.fired("crowding") == []
    h.zone("entrance", occupancy=6.2)
    h.run(1)
    fired = h.fired("crowding")
    assert len(fired) == 1
    alert = fired[0].alert
    assert alert.subject == "zone:entrance"
    assert alert.params["capacity"] == 5
    assert set(alert.audience) == {"manager", "guide"}
    assert fired[0].at == clock.now()
    # noisy input around the threshold, and inside the hysteresis band: one alert, still open
    for occ in (5.8, 4.9, 6.1, 4.6, 5.0):
        h.zone("entrance", occupancy=occ)
        h.run(5)
    assert len(h.fired("crowding")) == 1
    assert h.open("crowding")
    # below 90 % of capacity, held for the clear hold (30 s)
    h.zone("entrance", occupancy=4.0)
    h.run(29)
    assert h.events("crowding", UpdateEvent.RESOLVED) == []
    h.run(1)
    resolved = h.events("crowding", UpdateEvent.RESOLVED)
    assert len(resolved) == 1
    assert resolved[0].alert.id == alert.id


def test_crowding_not_at_capacity_and_hold_restarts_on_dip(site_id: str, clock: FixedClock) -> None:
    h = Hall(hall(site_id), clock)
    h.zone("entrance", occupancy=5.0)  # at capacity is not above it
    h.run(600, step=5)
    assert h.fired("crowding") == []
    h.zone("entrance", occupancy=6.0)
    h.run(40)
    h.zone("entrance", occupancy=4.8)  # a dip into the band restarts the hold
    h.run(1)
    h.zone("entrance", occupancy=6.0)
    h.run(59)
    assert h.fired("crowding") == []
    h.run(1)
    assert len(h.fired("crowding")) == 1


def test_hall_crowding_sums_zones(site_id: str, clock: FixedClock) -> None:
    h = Hall(hall(site_id), clock)
    h.zone("queue-a", occupancy=9.0)
    h.zone("waiting", occupancy=8.0)
    h.zone("experience", occupancy=3.0)  # 20: not above 20
    h.run(120, step=10)
    assert [u.alert.subject for u in h.fired("crowding")] == []
    h.zone("experience", occupancy=4.0)
    h.run(60, step=10)
    assert [u.alert.subject for u in h.fired("crowding")] == ["hall"]


def test_long_wait_care_visit_for_guide(site_id: str, clock: FixedClock) -> None:
    h = Hall(hall(site_id), clock)
    h.zone("waiting", occupancy=3, longest_wait_s=599)
    assert h.fired("long_wait") == []
    h.run(1)
    h.zone("waiting", occupancy=3, longest_wait_s=600, waits_over_limit=1)
    fired = h.fired("long_wait")
    assert len(fired) == 1
    a = fired[0].alert
    assert a.audience == ("guide",)
    assert a.zone == "waiting"
    assert a.params["wait_min"] == 10
    assert h.notifier.channels_for(a.id, UpdateEvent.FIRED) == {"floor"}
    for w in (660, 720, 780):
        h.run(5)
        h.zone("waiting", occupancy=3, longest_wait_s=w, waits_over_limit=1)
    assert len(h.fired("long_wait")) == 1
    assert h.open("long_wait")[0].params["wait_min"] == 13  # text follows the wait so far
    h.zone("waiting", occupancy=2, longest_wait_s=40)
    h.run(30)
    assert len(h.events("long_wait", UpdateEvent.RESOLVED)) == 1


def test_expected_wait_for_manager_with_hysteresis(site_id: str, clock: FixedClock) -> None:
    h = Hall(hall(site_id), clock)
    h.zone("queue-a", occupancy=4, queue_length=4, expected_wait_s=600)
    assert h.fired("expected_wait") == []
    h.zone("queue-a", occupancy=4, queue_length=4, expected_wait_s=601)
    fired = h.fired("expected_wait")
    assert len(fired) == 1
    assert fired[0].alert.audience == ("manager",)
    h.zone("queue-a", occupancy=4, queue_length=4, expected_wait_s=560)  # in the band: stays
    h.run(60)
    assert h.events("expected_wait", UpdateEvent.RESOLVED) == []
    h.zone("queue-a", occupancy=4, queue_length=4, expected_wait_s=500)
    h.run(30)
    assert len(h.events("expected_wait", UpdateEvent.RESOLVED)) == 1


def test_no_upsell_signal_to_counters_without_flapping(site_id: str, clock: FixedClock) -> None:
    h = Hall(hall(site_id), clock)
    h.zone("queue-a", occupancy=2, queue_length=2)
    h.run(10)
    assert h.fired("no_upsell") == []
    h.zone("queue-a", occupancy=3, queue_length=3)
    fired = h.fired("no_upsell")
    assert len(fired) == 1
    assert fired[0].alert.params["counter_ids"] == ["c1", "c2"]
    assert fired[0].alert.audience == ("counter",)
    for q in (2, 3, 2, 3, 2, 4, 2, 3):  # a noisy line around the threshold
        h.zone("queue-a", occupancy=q, queue_length=q)
        h.run(5)
    assert len(h.fired("no_upsell")) == 1
    assert h.events("no_upsell", UpdateEvent.RESOLVED) == []
    h.zone("queue-a", occupancy=2, queue_length=2)
    h.run(30)
    assert len(h.events("no_upsell", UpdateEvent.RESOLVED)) == 1


def test_transaction_overtime(site_id: str, clock: FixedClock) -> None:
    h = Hall(hall(site_id), clock)
    h.zone("counter-1", occupancy=1, longest_wait_s=179)
    assert h.fired("transaction_overtime") == []
    h.zone("counter-1", occupancy=1, longest_wait_s=180)
    fired = h.fired("transaction_overtime")
    assert len(fired) == 1
    assert fired[0].alert.params["counter_ids"] == ["c1", "c2"]
    h.zone("counter-1", occupancy=1, longest_wait_s=5)
    h.run(30)
    assert len(h.events("transaction_overtime", UpdateEvent.RESOLVED)) == 1


def test_loitering_to_guide(site_id: str, clock: FixedClock) -> None:
    h = Hall(hall(site_id), clock)
    h.zone("self-service", occupancy=2, loitering=0)
    h.zone("experience", occupancy=2, loitering=0)
    assert h.fired("loitering") == []
    h.zone("experience", occupancy=2, loitering=1)
    fired = h.fired("loitering")
    assert [u.alert.subject for u in fired] == ["zone:experience"]
    assert fired[0].alert.audience == ("guide",)
    h.zone("experience", occupancy=1, loitering=0)
    h.run(30)
    assert len(h.events("loitering", UpdateEvent.RESOLVED)) == 1


def test_arrival_surge_playbook_names_counters_away(site_id: str, clock: FixedClock) -> None:
    h = Hall(hall(site_id), clock)
    h.counter("c1", "away")
    h.counter("c2", "learning")
    total = 100
    h.zone("entrance", occupancy=1, entered_total=total)  # baseline
    for _ in range(29):  # 29 arrivals in 10 minutes: under the surge figure of 30
        h.run(20)
        total += 1
        h.zone("entrance", occupancy=1, entered_total=total)
    assert h.fired("peak_surge") == []
    h.run(20)
    total += 2
    h.zone("entrance", occupancy=1, entered_total=total)
    fired = h.fired("peak_surge")
    assert len(fired) == 1
    p = fired[0].alert.params
    assert p["arrivals"] >= 30
    assert p["away_ids"] == ["c1"]
    assert p["learning_ids"] == ["c2"]
    assert "open the fast lane" in _en_body(h, fired[0].alert.id)
    # arrivals stop: the window empties, the surge clears after its 5-minute clear hold
    h.run(600, step=10)
    assert len(h.events("peak_surge", UpdateEvent.RESOLVED)) == 1
    assert len(h.fired("peak_surge")) == 1


def _busy_hour(h: Hall, *, send_arrivals: bool) -> None:
    """A usual busy hour: 120 people an hour (20 per 10 minutes, under the surge figure of 30),
    each leaving through the entrance 15 minutes after arriving, for 80 minutes."""
    h.zone("entrance", occupancy=1, entered_total=0, arrivals_total=0 if send_arrivals else None)
    for arrived in range(1, 161):
        h.run(30)
        left = max(0, arrived - 30)
        h.zone(
            "entrance",
            occupancy=1,
            entered_total=arrived + left,  # every entry into the zone, leaving ones too
            arrivals_total=arrived if send_arrivals else None,
        )


def test_an_ordinary_busy_hour_raises_no_surge_when_arrivals_are_counted(
    site_id: str, clock: FixedClock
) -> None:
    h = Hall(hall(site_id), clock)
    _busy_hour(h, send_arrivals=True)
    assert h.fired("peak_surge") == []


def test_a_camera_without_arrivals_total_falls_back_to_entries(site_id: str, clock: FixedClock) -> None:
    # an older camera: departures through the entrance count too, and the same hour looks
    # like a surge (40 entries per 10 minutes) -- what every camera did before arrivals_total
    h = Hall(hall(site_id), clock)
    _busy_hour(h, send_arrivals=False)
    fired = h.fired("peak_surge")
    assert len(fired) == 1
    assert fired[0].alert.params["arrivals"] >= 30


class Forecast:
    def __init__(self, hours: Sequence[tuple[datetime, float]]) -> None:
        self.hours = list(hours)

    def forecast(self, site: str) -> Sequence[tuple[datetime, float]]:
        return self.hours


def test_peak_forecast_ahead_by_lead_time(site_id: str, clock: FixedClock) -> None:
    start = clock.now() + timedelta(hours=1)  # 02:30 UTC; lead 30 min -> warn at 02:00
    quiet = start + timedelta(hours=3)
    h = Hall(hall(site_id), clock, forecast=Forecast([(start, 120.0), (quiet, 20.0)]))
    h.run(1800 - 60, step=60)
    assert h.fired("peak_forecast") == []
    h.run(60, step=60)
    fired = h.fired("peak_forecast")
    assert len(fired) == 1
    assert fired[0].at == start - timedelta(minutes=30)
    assert fired[0].alert.params["peak_start"] == "10:30"  # hall-local (Asia/Shanghai)
    h.run(3600 + 1740, step=60)  # still on through the peak hour
    assert h.events("peak_forecast", UpdateEvent.RESOLVED) == []
    h.run(60, step=60)  # 03:30 UTC: the peak hour is over
    assert len(h.events("peak_forecast", UpdateEvent.RESOLVED)) == 1


def test_device_fault_to_floor_and_vendor_until_repair(site_id: str, clock: FixedClock) -> None:
    h = Hall(hall(site_id), clock)
    h.device_event("k1", event="fault_raised", code="PRN_PAPER_OUT", severity="warning", unusable=True)
    fired = h.fired("device_fault")
    assert len(fired) == 1
    a = fired[0].alert
    assert (a.device, a.vendor) == ("k1", "v-one")
    assert a.params["code"] == "PRN_PAPER_OUT"
    assert "out-of-service notice" in _en_body(h, a.id)
    assert h.notifier.channels_for(a.id, UpdateEvent.FIRED) == {"floor", "managers", "vendor-one"}
    h.device_event("k1", event="fault_raised", code="PRN_PAPER_OUT", unusable=True)  # repeated
    assert len(h.fired("device_fault")) == 1
    # a vendor-two device does not reach vendor one's channel
    h.device_event("k3", event="fault_raised", code="SIM_JAM", unusable=True)
    k3 = h.fired("device_fault")[-1].alert
    assert h.notifier.channels_for(k3.id, UpdateEvent.FIRED) == {"floor", "managers"}
    h.device_event("k1", event="fault_cleared", code="PRN_PAPER_OUT")
    resolved = h.events("device_fault", UpdateEvent.RESOLVED)
    assert [u.alert.id for u in resolved] == [a.id]


def test_device_offline_on_will_and_heartbeat_expiry(site_id: str, clock: FixedClock) -> None:
    h = Hall(hall(site_id), clock)
    for k in ("k1", "k2"):
        h.device_status(k, state="online", heartbeat_s=30)
    h.device_status("k1", state="offline", will=True)
    h.run(89)
    assert h.fired("device_offline") == []
    h.run(1)  # device_offline_grace_s = 90
    fired = h.fired("device_offline")
    assert [u.alert.device for u in fired] == ["k1"]
    h.device_status("k1", state="online", heartbeat_s=30)
    assert len(h.events("device_offline", UpdateEvent.RESOLVED)) == 1
    # k2 heartbeats stopped 90 s ago; due at +30 s, grace 90 s: offline at 120 s after last
    h.heartbeat("k2", interval_s=30)
    for _ in range(3):
        h.run(30)
        h.heartbeat("k1")  # k1 keeps its heartbeat
    h.run(29)
    assert [u.alert.device for u in h.fired("device_offline")] == ["k1"]
    h.heartbeat("k1")
    h.run(1)
    assert [u.alert.device for u in h.fired("device_offline")] == ["k1", "k2"]
    h.heartbeat("k2")
    assert len(h.events("device_offline", UpdateEvent.RESOLVED)) == 2


def test_self_service_capacity(site_id: str, clock: FixedClock) -> None:
    h = Hall(hall(site_id), clock)
    h.device_status("k1", state="online")
    h.run(60)
    assert h.fired("kiosk_capacity") == []  # k2, k3 not heard of yet: still in their grace
    for k in ("k2", "k3"):
        h.device_status(k, state="online")
    h.device_event("k1", event="fault_raised", code="PRN_PAPER_OUT", unusable=True)
    assert h.fired("kiosk_capacity") == []  # 2 of 3 still work
    h.device_event("k2", event="out_of_service_on", by="hand")
    fired = h.fired("kiosk_capacity")
    assert len(fired) == 1
    assert fired[0].alert.params["working"] == 1
    assert fired[0].alert.params["down_ids"] == ["k1", "k2"]
    h.device_event("k2", event="out_of_service_off", by="hand")
    h.run(30)
    assert len(h.events("kiosk_capacity", UpdateEvent.RESOLVED)) == 1


def test_kiosk_never_heard_of_counts_as_down_after_grace(site_id: str, clock: FixedClock) -> None:
    h = Hall(hall(site_id), clock)
    h.device_status("k1", state="online")
    h.device_status("k2", state="online")
    h.device_event("k1", event="out_of_service_on", by="hand")
    for _ in range(3):  # k2 keeps beating (a silent kiosk is down too: heartbeat expiry)
        h.run(30)
        h.heartbeat("k2")
    h.run(29)  # k3: heartbeat 30 s + grace 90 s
    assert h.fired("kiosk_capacity") == []
    h.run(1)
    assert h.fired("kiosk_capacity")[0].alert.params["down_ids"] == ["k1", "k3"]


def test_camera_blind_holds_back_its_zones(site_id: str, clock: FixedClock) -> None:
    h = Hall(hall(site_id), clock)
    h.zone("entrance", occupancy=7)  # cam-1
    h.zone("queue-a", occupancy=12)  # cam-2, capacity 10
    h.run(30)
    h.camera("cam-1", state="offline", will=True)
    assert h.fired("sensing_blind") == []  # blind only after thresholds.camera_blind_hold_s
    h.run(30)
    blind = h.fired("sensing_blind")
    assert [u.alert.subject for u in blind] == ["camera:cam-1"]
    h.run(30)
    # cam-2's zone fires; cam-1's stale zone is held back instead of a false alarm
    assert [u.alert.subject for u in h.fired("crowding")] == ["zone:queue-a"]
    h.camera("cam-1", state="online")
    assert len(h.events("sensing_blind", UpdateEvent.RESOLVED)) == 1


def test_a_starting_camera_is_not_blind(site_id: str, clock: FixedClock) -> None:
    """A camera's birth says its stream is down until the first frame: no page for that."""
    h = Hall(hall(site_id), clock)
    h.camera("cam-1", state="online", stream_ok=False)
    h.run(5)
    h.camera("cam-1", state="online", stream_ok=True)
    h.run(120)
    assert h.fired("sensing_blind") == []
    h.camera("cam-1", state="online", stream_ok=False)  # a stream that stays down is blind
    h.run(29)
    assert h.fired("sensing_blind") == []
    h.run(2)
    assert [u.alert.subject for u in h.fired("sensing_blind")] == ["camera:cam-1"]


def _en_body(h: Hall, alert_id: str) -> str:
    from server.alerts.templates import render

    alert = h.engine.get(alert_id)
    assert alert is not None
    return render(alert, "en")[1]


def test_device_offline_waits_for_opening_hours(site_id: str) -> None:
    clock = FixedClock.at("2026-11-23T00:30:00Z")  # 08:30 in Shanghai; the hall opens at 09:00
    h = Hall(hall(site_id), clock)
    h.device_status("k1", state="online", heartbeat_s=30)
    h.device_status("k1", state="offline", will=True)
    h.run(1799, step=60)
    assert h.fired("device_offline") == []
    h.run(1)
    fired = h.fired("device_offline")
    assert [u.at for u in fired] == [datetime.fromisoformat("2026-11-23T01:00:00+00:00")]


def test_a_wrong_clock_raises_device_clock_until_its_messages_are_accepted(
    site_id: str, clock: FixedClock
) -> None:
    """The hall state says which sources' messages are rejected for their time; the rule reads
    it: a device's alert goes to its vendor too, a camera's to the managers."""
    h = Hall(hall(site_id), clock)
    ahead = clock.now() + timedelta(days=400)
    h.engine.hall.clock_rejected(site_id, "k1", ahead, "clock: ts is 400.0 days ahead")
    h.engine.hall.clock_rejected(site_id, "cam-2", ahead, "clock: ts is 400.0 days ahead")
    h.run(1)
    k1 = next(u.alert for u in h.fired("device_clock") if u.alert.subject == "clock:k1")
    assert (k1.device, k1.vendor, k1.params["count"]) == ("k1", "v-one", 1)
    assert h.notifier.channels_for(k1.id, UpdateEvent.FIRED) == {"managers", "vendor-one"}
    cam = next(u.alert for u in h.fired("device_clock") if u.alert.subject == "clock:cam-2")
    assert (cam.device, cam.vendor) == (None, None)
    assert h.notifier.channels_for(cam.id, UpdateEvent.FIRED) == {"managers"}
    assert "2027-12-28T01:30:00+00:00" in render(k1, "en")[1]
    h.heartbeat("k1")  # accepted again: its clock was fixed
    h.run(1)
    assert [u.alert.subject for u in h.events("device_clock", UpdateEvent.RESOLVED)] == ["clock:k1"]


def test_device_offline_waits_for_its_kinds_grace(site_id: str, clock: FixedClock) -> None:
    """A kind with a longer grace (hall file) is alerted later, by will or by silence alike."""
    cfg = hall(site_id, thresholds={"device_offline_grace_s_by_kind": {"sim_dispenser": 300}})
    h = Hall(cfg, clock)
    for k in ("k1", "k3"):
        h.device_status(k, state="online", heartbeat_s=30)
        h.device_status(k, state="offline", will=True)
    h.run(90)  # the default grace
    assert [u.alert.device for u in h.fired("device_offline")] == ["k1"]
    h.run(209)
    assert [u.alert.device for u in h.fired("device_offline")] == ["k1"]
    h.run(1)
    assert [u.alert.device for u in h.fired("device_offline")] == ["k1", "k3"]


def test_a_will_leaves_an_open_fault_alert_open(site_id: str, clock: FixedClock) -> None:
    """A will carries the fault list of connect time: it once resolved a fault still open."""
    h = Hall(hall(site_id), clock)
    h.device_status("k1", state="online", heartbeat_s=30, faults=[])
    h.device_event("k1", event="fault_raised", code="PRN_PAPER_OUT", unusable=True)
    assert len(h.fired("device_fault")) == 1
    h.device_status("k1", state="offline", will=True, faults=[])  # composed at connect time
    h.run(5)
    assert h.events("device_fault", UpdateEvent.RESOLVED) == []
    assert [a.kind for a in h.engine.open_alerts(site_id)] == ["device_fault"]
