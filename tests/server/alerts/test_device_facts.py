"""The engine's own device facts, fed with the devices' messages (what the device rules read)."""

from __future__ import annotations

from datetime import timedelta

from lobbywatch.clock import FixedClock
from lobbywatch.protocol.messages import DeviceEvent, DeviceHeartbeat, DeviceStatus
from lobbywatch.protocol.sequence import Stamper
from server.alerts.device_facts import HeardDevices, Offline, OfflineReason


def test_presence_faults_service_and_working(site_id: str, clock: FixedClock) -> None:
    facts = HeardDevices()
    k1 = Stamper(site_id, "k1", clock=clock)
    assert (facts.heard_of("k1"), facts.working("k1", clock.now()), facts.offline("k1", clock.now())) == (
        False,
        None,
        None,
    )
    change = facts.apply(k1.make(DeviceStatus, state="online", heartbeat_s=30, faults=["E1"]), clock.now())
    assert (change.presence, change.capacity, [f.code for f in change.raised]) == (True, True, ["E1"])
    assert facts.faults("k1") == {"E1": True}
    assert facts.working("k1", clock.now()) is False  # a fault from status counts as unusable
    change = facts.apply(k1.make(DeviceEvent, event="fault_cleared", code="E1"), clock.now())
    assert (change.presence, change.cleared) == (False, ["E1"])
    assert facts.working("k1", clock.now()) is True
    start = clock.now()
    clock.advance(31)
    assert facts.offline("k1", clock.now()) == Offline(start + timedelta(seconds=30), OfflineReason.HEARTBEAT)
    assert facts.working("k1", clock.now()) is True  # a late heartbeat alone: device_offline's business
    facts.restart_heartbeat_clocks(clock.now())
    assert facts.offline("k1", clock.now()) is None
    facts.apply(k1.make(DeviceStatus, state="offline", will=True), clock.now())
    offline = facts.offline("k1", clock.now())
    assert offline is not None
    assert offline.reason == OfflineReason.WILL
    assert facts.working("k1", clock.now()) is False
    facts.apply(k1.make(DeviceHeartbeat, uptime_s=1, interval_s=30), clock.now())
    assert facts.offline("k1", clock.now()) is None
    facts.apply(k1.make(DeviceEvent, event="out_of_service_on", by="hand"), clock.now())
    assert facts.out_of_service("k1")
    assert facts.working("k1", clock.now()) is False
    assert list(facts.devices()) == ["k1"]
