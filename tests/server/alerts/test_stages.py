"""The engine's stages on their own, pure logic with a fixed clock: lifecycle, muting
(with its reasons), escalation, routing and the held-back delivery log."""

from __future__ import annotations

from datetime import timedelta

from lobbywatch.clock import FixedClock
from lobbywatch.config.notify import Silence
from lobbywatch.protocol.enums import AlertState, Presence
from lobbywatch.protocol.ingest import Backlog
from lobbywatch.protocol.messages import CameraStatus
from lobbywatch.protocol.sequence import Stamper
from server.alerts.escalation import escalate
from server.alerts.lifecycle import Lifecycle
from server.alerts.model import AlertKind, MuteReason, UpdateEvent
from server.alerts.muting import Muting, SilenceMuter
from server.alerts.routing import channels_for, held_deliveries, routed
from server.alerts.rules import Sensing, Signal
from server.hall_state import HallState

from .helpers_hall import hall


def _never(signal: Signal, now: object) -> None:
    return None


def _loiter(on: bool | None) -> Signal:
    return Signal(AlertKind.LOITERING, "zone:experience", on, {"count": 1}, zone="experience", camera="cam-1")


def test_lifecycle_hold_hysteresis_clear_hold_and_flap(site_id: str, clock: FixedClock) -> None:
    cfg = hall(site_id, notifications={"policy": {"hold_s": {"loitering": 10}, "flap_max": 1}})
    lc = Lifecycle(site_id)
    assert lc.apply(cfg, _loiter(False), clock.now(), _never) is None
    assert lc.conds == {}  # nothing pending, nothing open: no state kept
    lc.apply(cfg, _loiter(True), clock.now(), _never)
    clock.advance(9)
    assert lc.apply(cfg, _loiter(True), clock.now(), _never) is None
    clock.advance(1)
    fired = lc.apply(cfg, _loiter(True), clock.now(), _never)
    assert fired is not None
    assert (fired.event, fired.alert.params["held_s"]) == (UpdateEvent.FIRED, 10.0)
    assert lc.apply(cfg, _loiter(None), clock.now(), _never) is None  # the band keeps it open
    lc.apply(cfg, _loiter(False), clock.now(), _never)
    clock.advance(29)
    assert lc.apply(cfg, _loiter(False), clock.now(), _never) is None
    clock.advance(1)
    resolved = lc.apply(cfg, _loiter(False), clock.now(), _never)
    assert resolved is not None
    assert resolved.event == UpdateEvent.RESOLVED
    events = []
    for _ in range(2):  # fires again within the flap window: the same alert reopens
        lc.apply(cfg, _loiter(True), clock.now(), _never)
        clock.advance(10)
        step = lc.apply(cfg, _loiter(True), clock.now(), _never)
        assert step is not None
        events.append((step.event, step.alert.id, step.flapping))
        lc.apply(cfg, _loiter(False), clock.now(), _never)
        clock.advance(30)
        lc.apply(cfg, _loiter(False), clock.now(), _never)
    assert events == [
        (UpdateEvent.REOPENED, fired.alert.id, False),
        (UpdateEvent.REOPENED, fired.alert.id, True),  # past flap_max = 1
    ]


def test_lifecycle_holds_an_inhibited_signal(site_id: str, clock: FixedClock) -> None:
    cfg = hall(site_id)
    lc = Lifecycle(site_id)
    held = MuteReason("inhibit", "camera_blind", "cam-1")
    assert lc.apply(cfg, _loiter(True), clock.now(), lambda s, now: held) is None
    assert lc.open == {}
    assert lc.pending() == [_loiter(True)]  # remembered, to be applied once it is not held
    step = lc.apply(cfg, _loiter(True), clock.now(), _never)
    assert step is not None
    assert step.event == UpdateEvent.FIRED


def test_inhibitions_say_why(site_id: str, clock: FixedClock) -> None:
    cfg = hall(site_id)
    state = HallState(clock, {site_id: cfg})
    muting = Muting(Sensing(state, site_id))
    now = clock.now()
    offline = Signal(AlertKind.DEVICE_OFFLINE, "device:k1", True, device="k1")
    blind = Signal(AlertKind.SENSING_BLIND, "gateway", True)
    assert muting.inhibited(_loiter(True), now) is None
    cam = Stamper(site_id, "cam-1", clock=clock)
    state.apply(cam.make(CameraStatus, state=Presence.ONLINE, stream_ok=False))
    assert muting.inhibited(_loiter(True), now) == MuteReason("inhibit", "camera_blind", "cam-1")
    assert muting.inhibited(offline, now) is None
    state.gateway_batch(site_id, "gw", Backlog(count=500, bytes=1, oldest_age_s=3600), now)
    assert muting.inhibited(offline, now) == MuteReason("inhibit", "gateway_catching_up", "gateway")
    clock.advance(cfg.notifications.policy.gateway_silence_s + 1)
    assert muting.inhibited(_loiter(True), now) == MuteReason("inhibit", "gateway_silent", "gateway")
    assert muting.inhibited(blind, now) is None  # the blindness itself is never held back


def test_silences_match_and_say_which(site_id: str, clock: FixedClock) -> None:
    now = clock.now()
    window = Silence(devices=["k1"], starts=now, ends=now + timedelta(hours=1), reason="vendor on site")
    anonymous = window.model_copy(update={"reason": ""})
    offline = Signal(AlertKind.DEVICE_OFFLINE, "device:k1", True, device="k1", vendor="v-one")
    other = Signal(AlertKind.DEVICE_OFFLINE, "device:k2", True, device="k2", vendor="v-one")
    assert SilenceMuter(window).mute(offline, now) == MuteReason("silence", "silence", "vendor on site")
    assert SilenceMuter(window).mute(other, now) is None
    assert SilenceMuter(window).mute(offline, now + timedelta(hours=1)) is None  # [starts, ends)
    reason = SilenceMuter(anonymous).mute(offline, now)
    assert reason is not None
    assert (reason.key, reason.source) == ("silence_until", "2026-11-23T02:30+00:00")
    cfg = hall(site_id)
    muting = Muting(Sensing(HallState(clock, {site_id: cfg}), site_id))
    assert muting.silenced(cfg, offline, now) is None
    muting.added.append(window)
    assert muting.silenced(cfg, offline, now) == MuteReason("silence", "silence", "vendor on site")


def _fire_long_wait(site_id: str, clock: FixedClock) -> tuple[Lifecycle, str]:
    cfg = hall(site_id)
    lc = Lifecycle(site_id)
    step = lc.apply(cfg, Signal(AlertKind.LONG_WAIT, "zone:waiting", True, {}), clock.now(), _never)
    assert step is not None
    return lc, step.alert.id


def test_escalation_steps_in_order_until_acknowledged(site_id: str, clock: FixedClock) -> None:
    notify = hall(site_id).notifications
    lc, _ = _fire_long_wait(site_id, clock)
    clock.advance(5 * 60 - 1)
    assert escalate(lc, notify, clock.now()) == []
    clock.advance(15 * 60)  # both steps reached at once: two updates, in order
    updates = escalate(lc, notify, clock.now())
    assert [(u.audience, u.channels, u.alert.escalation_level) for u in updates] == [
        (("manager",), ("managers",), 1),
        (("regional",), ("regional",), 2),
    ]
    assert escalate(lc, notify, clock.now() + timedelta(hours=1)) == []
    lc2, alert2 = _fire_long_wait(site_id, clock)
    alert = lc2.find(alert2)
    assert alert is not None
    lc2.acknowledge(alert, "wang", None, clock.now())
    assert escalate(lc2, notify, clock.now() + timedelta(hours=1)) == []


def test_routes_and_escalation_channels_on_resolve(site_id: str, clock: FixedClock) -> None:
    notify = hall(site_id).notifications
    lc, alert_id = _fire_long_wait(site_id, clock)
    alert = lc.find(alert_id)
    assert alert is not None
    assert channels_for(notify, alert, UpdateEvent.FIRED) == ("floor",)
    escalated = alert.evolve(escalation_level=2)
    assert channels_for(notify, escalated, UpdateEvent.ESCALATED) == ("floor",)
    assert channels_for(notify, escalated, UpdateEvent.RESOLVED) == ("floor", "managers", "regional")
    vendor_two = alert.evolve(kind="device_fault", audience=("vendor",), vendor="v-two")
    assert channels_for(notify, vendor_two, UpdateEvent.FIRED) == ()


def test_held_back_update_is_logged_per_channel_with_its_reason(site_id: str, clock: FixedClock) -> None:
    notify = hall(site_id).notifications
    lc, alert_id = _fire_long_wait(site_id, clock)
    alert = lc.find(alert_id)
    assert alert is not None
    sent = routed(notify, alert, UpdateEvent.FIRED, clock.now())
    assert sent.notify
    assert held_deliveries(sent) == []
    silenced = alert.evolve(muted=MuteReason("silence", "silence", "vendor on site"))
    held = routed(notify, silenced, UpdateEvent.FIRED, clock.now())
    assert held.held_back == silenced.muted
    [entry] = held_deliveries(held)
    assert (entry.channel, entry.attempt, entry.ok, entry.error) == ("floor", 0, False, None)
    assert entry.skipped == "silence: vendor on site"
    inhibited = alert.evolve(muted=MuteReason("inhibit", "camera_blind", "cam-2"))
    assert routed(notify, inhibited, UpdateEvent.ACKNOWLEDGED, clock.now()).notify  # inhibits signals only
    assert alert.state == AlertState.FIRING


def test_a_held_back_resolution_still_clears_the_hall_displays(site_id: str, clock: FixedClock) -> None:
    """The hall displays keep the open alerts (and a retained copy on the hall broker): an
    alert silenced after it was shown must still leave them when it resolves."""
    base = hall(site_id).notifications
    notify = base.model_validate(
        {
            **base.model_dump(),
            "channels": [*base.model_dump()["channels"], {"name": "displays", "type": "mqtt"}],
            "routes": [{"channels": ["floor", "displays"]}],
        }
    )
    lc, alert_id = _fire_long_wait(site_id, clock)
    alert = lc.find(alert_id)
    assert alert is not None
    silenced = alert.evolve(muted=MuteReason("silence", "silence", "vendor on site"))
    fired = routed(notify, silenced, UpdateEvent.FIRED, clock.now())
    assert (fired.sent_to, [d.channel for d in held_deliveries(fired)]) == ((), ["floor", "displays"])
    resolved = routed(notify, silenced, UpdateEvent.RESOLVED, clock.now())
    assert resolved.held_back == silenced.muted
    assert resolved.sent_to == ("displays",)
    assert [d.channel for d in held_deliveries(resolved)] == ["floor"]
