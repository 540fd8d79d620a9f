"""The one hall state: device presence, heartbeat expiry, wills, working kiosks (pure logic)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lobbywatch.clock import FixedClock
from lobbywatch.config.site import SiteConfig, load_site_config
from lobbywatch.protocol.enums import DeviceEventKind, DeviceKind, Presence, Severity
from lobbywatch.protocol.ingest import Backlog
from lobbywatch.protocol.messages import DeviceEvent, DeviceHeartbeat, DeviceStatus
from lobbywatch.protocol.sequence import Stamper
from lobbywatch.web.layout import hall_layout
from server.alerts.rules import Sensing, gateway_signal
from server.core.config import IngestConfig
from server.hall_state import HallState
from server.live import LiveState
from tests.conftest import EXAMPLES

KIOSKS = ["kiosk-topup-1", "kiosk-bill-1", "kiosk-sim-1"]


@pytest.fixture
def cfg() -> SiteConfig:
    return load_site_config(EXAMPLES / "telecom-hall.yaml")


@pytest.fixture
def hall(cfg: SiteConfig, clock: FixedClock) -> HallState:
    return HallState(clock, {cfg.site: cfg})


def stamper(cfg: SiteConfig, clock: FixedClock, device: str) -> Stamper:
    return Stamper(cfg.site, device, clock=clock)


def heartbeat(st: Stamper, interval_s: float = 30) -> DeviceHeartbeat:
    return st.make(DeviceHeartbeat, uptime_s=10, interval_s=interval_s)


def test_never_heard_kiosks_work_until_their_heartbeat_is_due(
    hall: HallState, cfg: SiteConfig, clock: FixedClock
) -> None:
    assert hall.kiosks(cfg.site) == (KIOSKS, [])
    clock.advance(20 + cfg.thresholds.device_offline_grace_s + 1)  # kiosk-sim-1 beats every 20 s
    assert hall.kiosks(cfg.site) == (["kiosk-topup-1", "kiosk-bill-1"], ["kiosk-sim-1"])
    clock.advance(10)
    assert hall.kiosks(cfg.site) == ([], KIOSKS)


def test_heartbeat_expiry_makes_a_device_offline_since_it_was_due(
    hall: HallState, cfg: SiteConfig, clock: FixedClock
) -> None:
    st = stamper(cfg, clock, "kiosk-topup-1")
    last = clock.now()
    hall.apply(st.make(DeviceStatus, state=Presence.ONLINE, heartbeat_s=30))
    dev = hall.hall(cfg.site).devices["kiosk-topup-1"]
    clock.advance(30 + cfg.thresholds.device_offline_grace_s - 1)
    assert hall.device_now(dev).state == "online"  # within the grace
    clock.advance(1)
    now = hall.device_now(dev)
    assert (now.state, now.since, now.reason, now.working) == (
        "offline",
        last + timedelta(seconds=30),
        "heartbeat",
        False,
    )
    hall.apply(heartbeat(st))
    assert hall.device_now(dev).state == "online"


def test_a_silent_gateway_freezes_expiry_and_its_return_restarts_heartbeat_clocks(
    hall: HallState, cfg: SiteConfig, clock: FixedClock
) -> None:
    st = stamper(cfg, clock, "kiosk-topup-1")
    hall.apply(heartbeat(st))
    hall.gateway_batch(cfg.site, "gw", Backlog(count=0, bytes=0, oldest_age_s=0), clock.now())
    dev = hall.hall(cfg.site).devices["kiosk-topup-1"]
    clock.advance(600)  # no batch from the hall for 10 minutes: nothing is known about its devices
    assert not hall.sensing_live(cfg.site)
    assert hall.device_now(dev).state == "online"
    hall.gateway_batch(cfg.site, "gw", Backlog(count=900, bytes=1, oldest_age_s=590), clock.now())
    assert hall.device_now(dev).state == "online"  # catching up: still frozen
    hall.gateway_batch(cfg.site, "gw", Backlog(count=0, bytes=0, oldest_age_s=0), clock.now())
    assert dev.last_heard == clock.now()  # back: the heartbeat clock starts again
    for _ in range(3):  # the hall's data keeps arriving; the kiosk stays silent
        clock.advance(45)
        hall.gateway_batch(cfg.site, "gw", Backlog(count=1, bytes=1, oldest_age_s=0.1), clock.now())
    assert hall.device_now(dev).state == "offline"


def test_one_limit_says_when_the_halls_data_is_absent(cfg: SiteConfig, clock: FixedClock) -> None:
    """The hall file's gateway_silence_s decides, read from the hall state: the live view's
    "absent", the limit the wall page counts with (the layout) and the gateway-silence alert."""
    policy = cfg.notifications.policy.model_copy(update={"gateway_silence_s": 90.0})
    cfg = cfg.model_copy(update={"notifications": cfg.notifications.model_copy(update={"policy": policy})})
    hall = HallState(clock, {cfg.site: cfg})
    live = LiveState(hall, clock, IngestConfig())
    sensing = Sensing(hall, cfg.site)
    assert hall_layout(cfg)["absent_after_s"] == hall.silence_s(cfg.site) == 90.0
    # Never heard from: no data on the wall; nothing has gone silent for the alert to say.
    assert (hall.data_absent(cfg.site), live.data_status(cfg.site)) == (True, "absent")
    assert gateway_signal(cfg, sensing, clock.now()) is None
    hall.gateway_batch(cfg.site, "gw", Backlog(count=0, bytes=0, oldest_age_s=0), clock.now())
    clock.advance(90)
    signal = gateway_signal(cfg, sensing, clock.now())
    assert signal is not None
    assert (hall.data_absent(cfg.site), live.data_status(cfg.site), signal.on) == (False, "live", False)
    clock.advance(1)
    signal = gateway_signal(cfg, sensing, clock.now())
    assert signal is not None
    assert (hall.data_absent(cfg.site), live.data_status(cfg.site), signal.on) == (True, "absent", True)
    assert signal.params["silence_s"] == 90.0


def test_a_will_says_the_connection_died_and_leaves_faults_alone(
    hall: HallState, cfg: SiteConfig, clock: FixedClock
) -> None:
    st = stamper(cfg, clock, "kiosk-topup-1")
    birth = st.make(DeviceStatus, state=Presence.ONLINE, faults=[])
    will = DeviceStatus(**{**birth.model_dump(), "id": "will0000will0000", "state": "offline", "will": True})
    hall.apply(birth)
    clock.advance(60)
    changes = hall.apply(
        st.make(
            DeviceEvent,
            event=DeviceEventKind.FAULT_RAISED,
            code="PRN_PAPER_OUT",
            severity=Severity.WARNING,
            unusable=True,
            detail="tray empty",
        )
    )
    assert [(c.code, c.raised, c.detail) for c in changes] == [("PRN_PAPER_OUT", True, "tray empty")]
    last_heard = clock.now()
    clock.advance(30)
    assert hall.apply(will) == []  # its empty fault list (from connect time) clears nothing
    dev = hall.hall(cfg.site).devices["kiosk-topup-1"]
    assert dev.faults == {"PRN_PAPER_OUT": True}
    now = hall.device_now(dev)
    # dated at connect time, the will is placed after the last thing heard from the device
    assert (now.state, now.reason, now.since) == ("offline", "will", last_heard)


def test_working_kiosk_is_online_in_service_without_unusable_faults(
    hall: HallState, cfg: SiteConfig, clock: FixedClock
) -> None:
    topup, bill, sim = (stamper(cfg, clock, k) for k in KIOSKS)
    for st in (topup, bill, sim):
        hall.apply(st.make(DeviceStatus, state=Presence.ONLINE))
    hall.apply(topup.make(DeviceEvent, event=DeviceEventKind.OUT_OF_SERVICE_ON))
    hall.apply(bill.make(DeviceEvent, event=DeviceEventKind.FAULT_RAISED, code="PRN_LOW", unusable=False))
    assert hall.kiosks(cfg.site) == (["kiosk-bill-1", "kiosk-sim-1"], ["kiosk-topup-1"])
    hall.apply(sim.make(DeviceEvent, event=DeviceEventKind.FAULT_RAISED, code="CARD_JAM"))
    assert hall.kiosks(cfg.site) == (["kiosk-bill-1"], ["kiosk-topup-1", "kiosk-sim-1"])
    assert hall.device_now(hall.hall(cfg.site).devices["kiosk-sim-1"]).state == "faulted"


def test_a_source_has_a_wrong_clock_while_its_messages_are_rejected_for_their_time(
    hall: HallState, cfg: SiteConfig, clock: FixedClock
) -> None:
    """Rejections for the time make a clock problem until one of its messages is accepted,
    or none is rejected for CLOCK_PROBLEM_S; the count stays."""
    from server.hall_state import CLOCK_PROBLEM_S

    site, device = cfg.site, KIOSKS[0]
    assert hall.clock_problem(site, device) is None
    ahead = clock.now() + timedelta(days=400)
    hall.clock_rejected(site, device, ahead, "clock: ts is 400.0 days ahead")
    hall.clock_rejected(site, device, ahead, "clock: ts is 400.0 days ahead")
    problem = hall.clock_problem(site, device)
    assert problem is not None
    assert (problem.count, problem.stamped, problem.reason) == (2, ahead, "clock: ts is 400.0 days ahead")
    assert hall.clock_sources(site) == [device]
    hall.apply(heartbeat(stamper(cfg, clock, device)))  # same instant: the same batch, still wrong
    assert hall.clock_problem(site, device) is not None
    clock.advance(5)
    hall.apply(heartbeat(stamper(cfg, clock, device)))  # accepted again: its clock was fixed
    assert hall.clock_problem(site, device) is None
    hall.clock_rejected(site, "cam-1", ahead, "clock: ahead")
    clock.advance(CLOCK_PROBLEM_S + 1)  # nothing rejected for a while: no longer a problem
    assert hall.clock_problem(site, "cam-1") is None
    assert hall.hall(site).clock_problems[device].count == 2


def test_offline_grace_per_device_kind(cfg: SiteConfig, clock: FixedClock) -> None:
    kinds = {DeviceKind.COUNTER_TERMINAL: 600.0}
    thresholds = cfg.thresholds.model_copy(update={"device_offline_grace_s_by_kind": kinds})
    hall = HallState(clock, {cfg.site: cfg.model_copy(update={"thresholds": thresholds})})
    for device in ("kiosk-topup-1", "term-c1"):
        hall.apply(stamper(cfg, clock, device).make(DeviceStatus, state=Presence.ONLINE, heartbeat_s=30))
    kiosk, terminal = (hall.hall(cfg.site).devices[d] for d in ("kiosk-topup-1", "term-c1"))
    assert (hall.grace_s(kiosk), hall.grace_s(terminal)) == (cfg.thresholds.device_offline_grace_s, 600.0)
    clock.advance(30 + cfg.thresholds.device_offline_grace_s)
    assert (hall.device_now(kiosk).state, hall.device_now(terminal).state) == ("offline", "online")
    clock.advance(600 - cfg.thresholds.device_offline_grace_s)
    assert hall.device_now(terminal).state == "offline"
