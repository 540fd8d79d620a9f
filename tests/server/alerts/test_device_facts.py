"""The device facts the device rules read: a view of the one hall state, and the faults each
message raised or cleared since the rules last looked."""

from __future__ import annotations

from datetime import timedelta

from lobbywatch.clock import FixedClock
from lobbywatch.config.site import load_site_config
from lobbywatch.protocol.ingest import Backlog
from lobbywatch.protocol.messages import DeviceEvent, DeviceHeartbeat, DeviceStatus
from lobbywatch.protocol.sequence import Stamper
from server.alerts.device_facts import HallDevices, Offline, OfflineReason
from server.hall_state import HallState
from tests.conftest import EXAMPLES


def test_presence_faults_service_and_working(site_id: str, clock: FixedClock) -> None:
    cfg = load_site_config(EXAMPLES / "telecom-hall.yaml").model_copy(update={"site": site_id})
    hall = HallState(clock, {site_id: cfg})
    facts = HallDevices(hall, site_id)
    k1 = Stamper(site_id, "k1", clock=clock)

    def feed(message: DeviceStatus | DeviceHeartbeat | DeviceEvent) -> tuple[list[str], list[str]]:
        hall.apply(message)
        change = facts.change(message)
        return [f.code for f in change.raised], change.cleared

    assert (facts.heard_of("k1"), facts.working("k1", clock.now()), facts.offline("k1", clock.now())) == (
        False,
        None,
        None,
    )
    assert feed(k1.make(DeviceStatus, state="online", heartbeat_s=30, faults=["E1"])) == (["E1"], [])
    assert facts.faults("k1") == {"E1": True}
    assert facts.working("k1", clock.now()) is False  # a fault from status counts as unusable
    assert feed(k1.make(DeviceEvent, event="fault_cleared", code="E1")) == ([], ["E1"])
    assert facts.working("k1", clock.now()) is True
    start = clock.now()
    clock.advance(30 + cfg.thresholds.device_offline_grace_s + 1)
    due = start + timedelta(seconds=30)
    assert facts.offline("k1", clock.now()) == Offline(due, OfflineReason.HEARTBEAT)
    assert facts.working("k1", clock.now()) is False  # one definition: a silent kiosk is down
    hall.gateway_batch(site_id, "gw", Backlog(count=0, bytes=0, oldest_age_s=0), clock.now())
    clock.advance(200)  # no batch for longer than the gateway silence: expiry is frozen...
    hall.gateway_batch(site_id, "gw", Backlog(count=0, bytes=0, oldest_age_s=0), clock.now())
    assert facts.offline("k1", clock.now()) is None  # ...and the return restarts the clocks
    feed(k1.make(DeviceStatus, state="offline", will=True))
    offline = facts.offline("k1", clock.now())
    assert offline is not None
    assert offline.reason == OfflineReason.WILL
    assert facts.working("k1", clock.now()) is False
    feed(k1.make(DeviceHeartbeat, uptime_s=1, interval_s=30))
    assert facts.offline("k1", clock.now()) is None
    feed(k1.make(DeviceEvent, event="out_of_service_on", by="hand"))
    assert facts.out_of_service("k1")
    assert facts.working("k1", clock.now()) is False
    assert list(facts.devices()) == ["k1"]
    assert facts.kiosks(clock.now()) == ([], ["kiosk-topup-1", "kiosk-bill-1", "kiosk-sim-1"])
