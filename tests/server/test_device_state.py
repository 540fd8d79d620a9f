"""One definition of a device's state: heartbeat expiry seen alike by the device API, the wall
grid, the reports and the kiosk-capacity rule (a running server, SQLite)."""

from __future__ import annotations

from datetime import timedelta

from lobbywatch.protocol.enums import Presence
from lobbywatch.protocol.messages import DeviceHeartbeat, DeviceStatus

from .conftest import Server

KIOSKS = ("kiosk-topup-1", "kiosk-bill-1", "kiosk-sim-1")


def beat(server: Server, device: str) -> DeviceHeartbeat:
    msg: DeviceHeartbeat = server.make(DeviceHeartbeat, device, uptime_s=60, interval_s=30)
    return msg


def test_heartbeat_expiry_makes_a_kiosk_unavailable_everywhere(server: Server) -> None:
    start = server.clock.now()
    births = [server.make(DeviceStatus, k, state=Presence.ONLINE, heartbeat_s=30) for k in KIOSKS]
    assert server.send(births).json()["accepted"] == 3
    # Only kiosk-bill-1 keeps beating; the hall's gateway keeps delivering every 30 s.
    for _ in range(8):
        server.clock.advance(30)
        assert server.send([beat(server, "kiosk-bill-1")]).json()["accepted"] == 1
    now = server.clock.now()
    silent_since = start + timedelta(seconds=30)

    live = server.get(f"/api/v1/sites/{server.site}/live", "display").json()
    states = {d["device"]: d["state"] for d in live["devices"] if d["device"] in KIOSKS}
    assert states == {"kiosk-topup-1": "offline", "kiosk-bill-1": "online", "kiosk-sim-1": "offline"}
    assert (live["kiosks_working"], live["kiosks_total"]) == (1, 3)
    [topup] = [d for d in live["devices"] if d["device"] == "kiosk-topup-1"]
    assert topup["since"].startswith(silent_since.isoformat()[:19])

    device = server.get(f"/api/v1/sites/{server.site}/devices/kiosk-topup-1", "manager").json()
    assert device["live"]["state"] == "offline"
    episodes = server.get(f"/api/v1/sites/{server.site}/devices/kiosk-topup-1/episodes", "manager").json()
    assert [(e["state"], e["start"][11:19]) for e in episodes] == [
        ("online", start.isoformat()[11:19]),
        ("offline", silent_since.isoformat()[11:19]),
    ]
    period = {"start": start.isoformat(), "end": now.isoformat()}
    report = server.get(f"/api/v1/reports/devices/{server.site}/kiosk-topup-1", "manager", **period).json()
    assert report["downtime_open_s"] == (now - silent_since).total_seconds()
    bill = server.get(f"/api/v1/reports/devices/{server.site}/kiosk-bill-1", "manager", **period).json()
    assert bill["availability_pct"] == 100.0

    assert server.ctx.alerts is not None
    engine = server.ctx.alerts.engine
    engine.tick()
    firing = {(a.kind, a.subject) for a in engine.open_alerts(server.site)}
    assert ("kiosk_capacity", "hall") in firing
    assert {("device_offline", "device:kiosk-topup-1"), ("device_offline", "device:kiosk-sim-1")} <= firing
    [capacity] = [a for a in engine.open_alerts(server.site) if a.kind == "kiosk_capacity"]
    assert (capacity.params["working"], capacity.params["total"]) == (1, 3)
