"""Vendor service levels in a real server: faults from ingest (the device history), the
targets alerted on from it, and the vendor report showing each fault against its targets."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path

import pytest

from lobbywatch.clock import FixedClock
from lobbywatch.protocol.messages import DeviceEvent, DeviceHeartbeat

from .helpers_hall import hall_dict
from .helpers_server import served

pytestmark = pytest.mark.real

PERIOD = {"start": "2026-11-22T16:00:00Z", "end": "2026-11-25T16:00:00Z"}


def test_fault_judged_against_its_targets_in_alerts_and_the_vendor_report(
    tmp_path: Path, site_id: str
) -> None:
    clock = FixedClock.at("2026-11-23T09:30:00Z")  # Monday 17:30 local, closing at 18:00
    cfg = hall_dict(
        site_id,
        opening_hours=[{"days": ["mon", "tue", "wed", "thu", "fri"], "open": "09:00", "close": "18:00"}],
        service_levels={"vendors": [{"vendor": "v-one", "respond_min": 30, "repair_min": 240}]},
    )
    with served(tmp_path, clock, cfg) as s:
        engine = s.alerts.engine
        s.ingest([s.make(DeviceEvent, "k1", event="fault_raised", code="PRN_JAM", unusable=True)])
        clock.set(datetime.fromisoformat("2026-11-23T09:50:00+00:00"))  # acknowledged after 20 min
        [fault] = s.get("/api/v1/faults?open=true").json()
        assert (
            s.client.post(f"/api/v1/faults/{fault['id']}/ack", headers=s.auth("manager")).status_code == 200
        )
        engine.tick()
        for at in ("2026-11-24T03:30:00+00:00", "2026-11-24T04:30:00+00:00"):  # Tuesday 11:30: 75 %, 12:30
            clock.set(datetime.fromisoformat(at))
            s.ingest([s.make(DeviceHeartbeat, "k2", uptime_s=1, interval_s=30)])  # the gateway is heard
            engine.tick()
        kinds = sorted(a.kind for a in engine.open_alerts(site_id) if a.kind.startswith("vendor_sla"))
        assert kinds == ["vendor_sla_missed", "vendor_sla_warning"]
        assert {a.params["target"] for a in engine.open_alerts(site_id) if a.kind == "vendor_sla_missed"} == {
            "repair"
        }
        clock.set(datetime.fromisoformat("2026-11-24T05:00:00+00:00"))  # repaired at 13:00
        s.ingest([s.make(DeviceEvent, "k1", event="fault_cleared", code="PRN_JAM")])
        engine.tick()
        assert [a for a in engine.open_alerts(site_id) if a.kind.startswith("vendor_sla")] == []

        report = s.get(f"/api/v1/reports/vendors/v-one?start={PERIOD['start']}&end={PERIOD['end']}").json()
        [entry] = report["fault_log"]
        assert (entry["respond_open_s"], entry["respond_target_s"], entry["respond_met"]) == (
            1200,
            1800,
            True,
        )
        assert (entry["repair_open_s"], entry["repair_target_s"], entry["repair_met"]) == (
            16200,
            14400,
            False,
        )
        assert entry["repair_s"] == 70200  # wall time, overnight included
        assert (report["respond_missed"], report["repair_missed"]) == (0, 1)
        csv_url = f"/api/v1/reports/vendors/v-one?start={PERIOD['start']}&end={PERIOD['end']}&format=csv"
        [row] = list(csv.DictReader(io.StringIO(s.get(csv_url + "&rows=faults").text)))
        assert (row["code"], row["repair_met"], row["respond_met"]) == ("PRN_JAM", "False", "True")
