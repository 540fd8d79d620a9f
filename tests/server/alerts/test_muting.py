"""Why an alert is held back: on the alert, in the store, in the delivery log and in the API."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from lobbywatch.clock import FixedClock
from lobbywatch.config.notify import Silence
from lobbywatch.protocol.messages import CameraStatus, DeviceEvent, ZoneState
from server.alerts.model import MuteReason, UpdateEvent
from server.alerts.store import MemoryAlertStore, SqlAlertStore

from .helpers_hall import ZONE_KINDS, Hall, hall, hooked_hall_dict
from .helpers_server import served


def test_silenced_alert_records_its_silence_and_logs_what_it_did_not_send(
    site_id: str, clock: FixedClock
) -> None:
    h = Hall(hall(site_id), clock)
    window = Silence(
        devices=["k1"], starts=clock.now(), ends=clock.now() + timedelta(minutes=20), reason="vendor"
    )
    h.engine.add_silence(site_id, window)
    h.device_event("k1", event="fault_raised", code="PRN_PAPER_OUT", unusable=True)
    [fired] = h.fired("device_fault")
    expected = MuteReason("silence", "silence", "vendor")
    assert (fired.alert.muted, fired.held_back) == (expected, expected)
    store = h.store
    assert isinstance(store, MemoryAlertStore)
    log = store.deliveries(fired.alert.id)
    assert {(d.channel, d.event, d.ok, d.skipped) for d in log} == {
        (c, "fired", False, "silence: vendor") for c in ("floor", "managers", "vendor-one")
    }
    h.run(20 * 60, step=60)  # the window ends: the alert is told, and no longer muted
    assert h.engine.open_alerts(site_id)[0].muted is None
    stored = store.get(fired.alert.id)
    assert stored is not None
    assert stored.muted is None


def test_inhibited_alert_says_which_camera_holds_it_back(site_id: str, clock: FixedClock) -> None:
    h = Hall(hall(site_id), clock)
    h.zone("entrance", occupancy=9)
    h.run(60)
    [crowding] = h.fired("crowding")
    h.camera("cam-1", state="online", stream_ok=False)
    h.run(1)
    [alert] = h.open("crowding")
    assert alert.muted == MuteReason("inhibit", "camera_blind", "cam-1")
    assert not alert.silenced
    stored = h.store.get(crowding.alert.id)
    assert stored is not None
    assert stored.muted == alert.muted
    h.camera("cam-1", state="online", stream_ok=True)
    h.run(1)
    assert h.open("crowding")[0].muted is None


def test_quiet_reopenings_are_logged_as_flapping(site_id: str, clock: FixedClock) -> None:
    h = Hall(hall(site_id), clock)
    for _ in range(4):
        h.zone("experience", occupancy=1, loitering=1)
        h.run(5)
        h.zone("experience", occupancy=1, loitering=0)
        h.run(30)
    last = h.fired("loitering")[-1]
    assert (last.event, last.held_back) == (UpdateEvent.REOPENED, MuteReason("flap", "flapping", "3"))
    assert last.alert.muted is None  # the alert is not muted; that one update was not sent
    store = h.store
    assert isinstance(store, MemoryAlertStore)
    assert [d.skipped for d in store.deliveries(last.alert.id)] == ["flap: 3"]


def test_sql_store_keeps_the_reason_and_upgrades_an_old_database(
    sql_url: str, site_id: str, clock: FixedClock
) -> None:
    SqlAlertStore(sql_url).engine.dispose()
    engine = sa.create_engine(sql_url)
    with engine.begin() as conn:  # the tables as an older version left them
        conn.execute(sa.text("ALTER TABLE alerts DROP COLUMN muted"))
        conn.execute(sa.text("ALTER TABLE alert_deliveries DROP COLUMN skipped"))
    store = SqlAlertStore(engine)
    inspector = sa.inspect(engine)
    assert "muted" in {c["name"] for c in inspector.get_columns("alerts")}
    assert "skipped" in {c["name"] for c in inspector.get_columns("alert_deliveries")}
    h = Hall(hall(site_id, notifications={"silences": [_all_day("works")]}), clock, store=store)
    h.device_event("k1", event="fault_raised", code="PRN_PAPER_OUT", unusable=True)
    [fired] = h.fired("device_fault")
    got = store.get(fired.alert.id)
    assert got is not None
    assert got.muted == MuteReason("silence", "silence", "works")
    assert got.silenced
    assert {d.skipped for d in store.deliveries(fired.alert.id)} == {"silence: works"}
    engine.dispose()


def _all_day(reason: str) -> dict[str, str]:
    return {"starts": "2026-11-23T00:00:00Z", "ends": "2026-11-24T00:00:00Z", "reason": reason}


@pytest.mark.real
def test_api_shows_why_alerts_are_held_back(tmp_path: Path, clock: FixedClock, site_id: str) -> None:
    cfg = hooked_hall_dict(site_id, "http://127.0.0.1:9/hook")
    with served(tmp_path, clock, cfg) as s:
        window = {
            "devices": ["k1"],
            "starts": clock.now().isoformat(),
            "ends": (clock.now() + timedelta(hours=1)).isoformat(),
            "reason": "vendor on site",
        }
        added = s.client.post(f"/api/v1/sites/{site_id}/silences", json=window, headers=s.auth("manager"))
        assert added.status_code == 201, added.text
        s.ingest(
            [
                s.make(DeviceEvent, "k1", event="fault_raised", code="PRN_PAPER_OUT", unusable=True),
                s.make(ZoneState, "cam-2", **_zone("queue-a", occupancy=12)),
            ]
        )
        clock.advance(61)  # past crowding_hold_s: queue-a is crowded
        s.ingest([s.make(ZoneState, "cam-2", **_zone("queue-a", occupancy=12))])
        s.ingest([s.make(CameraStatus, "cam-2", state="offline", will=True)])
        clock.advance(30)  # thresholds.camera_blind_hold_s: the camera is blind
        s.alerts.engine.tick()  # muting is refreshed on the engine's tick
        listed = {a["kind"]: a for a in s.get(f"/api/v1/alerts?site={site_id}").json()}
        silenced = listed["device_fault"]
        assert silenced["silenced"] is True
        assert silenced["muted"] == {
            "kind": "silence",
            "reason": "silence",
            "source": "vendor on site",
            "title": {"en": "Silenced: vendor on site", "zh-CN": "已静默：vendor on site"},
        }
        inhibited = listed["crowding"]
        assert inhibited["silenced"] is False
        assert inhibited["muted"]["kind"] == "inhibit"
        assert inhibited["muted"]["title"]["en"] == "Held back: camera cam-2 is blind"
        assert listed["sensing_blind"]["muted"] is None
        history = {a["id"]: a for a in s.get(f"/api/v1/sites/{site_id}/alerts/history").json()}
        assert history[inhibited["id"]]["muted"] == inhibited["muted"]
        log = s.get(f"/api/v1/alerts/{silenced['id']}/deliveries").json()
        assert log == [
            {
                "channel": "hook",
                "event": "fired",
                "attempt": 0,
                "ok": False,
                "at": log[0]["at"],
                "latency_ms": 0.0,
                "error": None,
                "skipped": "silence: vendor on site",
            }
        ]


def _zone(zone: str, occupancy: float) -> dict[str, object]:
    return {
        "zone": zone,
        "kind": ZONE_KINDS[zone],
        "occupancy": occupancy,
        "count": int(occupancy),
        "entered_total": 0,
        "exited_total": 0,
    }


@pytest.mark.real
def test_a_silence_set_through_the_api_outlives_a_restart(
    tmp_path: Path, clock: FixedClock, site_id: str
) -> None:
    cfg = hooked_hall_dict(site_id, "http://127.0.0.1:9/hook")
    window = {
        "devices": ["k1"],
        "starts": clock.now().isoformat(),
        "ends": (clock.now() + timedelta(hours=1)).isoformat(),
        "reason": "vendor on site",
    }
    with served(tmp_path, clock, cfg) as s:
        added = s.client.post(f"/api/v1/sites/{site_id}/silences", json=window, headers=s.auth("manager"))
        assert added.status_code == 201, added.text
    clock.advance(60)
    with served(tmp_path, clock, cfg) as s:  # the same database, a new server process's state
        s.ingest([s.make(DeviceEvent, "k1", event="fault_raised", code="PRN_PAPER_OUT", unusable=True)])
        [alert] = s.get(f"/api/v1/alerts?site={site_id}").json()
        assert alert["muted"]["kind"] == "silence"
        assert alert["muted"]["source"] == "vendor on site"
