"""Reports against a hand-computed example (SQLite and PostgreSQL).

Hall: Asia/Shanghai, open Monday 09:00-18:00 local = 01:00-10:00 UTC (32,400 s).
Period: Monday 2026-11-23 00:00 local -> Tuesday 00:00 local (16:00Z -> 16:00Z).

kiosk-topup-1 (vendor huaxin-maint), UTC times on 2026-11-23:
  01:30 online | 02:00 fault PRN_PAPER_OUT (acked 02:15) | 02:45 cleared
  05:00 out of service on | 05:30 off | 08:00 fault CARD_JAM | 09:00 offline (last-will)
  11:00 online, no faults (CARD_JAM cleared) | 12:00 fault PRN_PAPER_OUT, still open at the end
Down within opening hours: 02:00-02:45 (2,700) + 05:00-05:30 (1,800) + 08:00-10:00 (7,200)
  = 11,700 s -> availability 100 x 20,700 / 32,400 = 63.889 %
Faults 3 (CARD_JAM 1, PRN_PAPER_OUT 2); respond: 900 s (only the first was acknowledged);
repair: (2,700 + 10,800) / 2 = 6,750 s; longest outage: 12:00-16:00 = 14,400 s
(08:00-11:00, faulted then offline, merges to 10,800 s); open faults at the end: 1.
kiosk-bill-1 (same vendor) reports nothing: 100 %. Vendor total: 100 x (64,800 - 11,700) /
64,800 = 81.944 %.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import datetime
from typing import Any

from lobbywatch.protocol.enums import DeviceEventKind, Severity
from lobbywatch.protocol.messages import DeviceEvent, DeviceStatus

from .conftest import Server

PERIOD = {"start": "2026-11-22T16:00:00Z", "end": "2026-11-23T16:00:00Z"}
DEV = "kiosk-topup-1"


def at(server: Server, hhmm: str) -> None:
    server.clock.set(datetime.fromisoformat(f"2026-11-23T{hhmm}:00+00:00"))


def event(server: Server, kind: DeviceEventKind, code: str | None = None) -> None:
    fields: dict[str, Any] = {"event": kind}
    if code is not None:
        fields.update(code=code, severity=Severity.WARNING, unusable=True)
    assert server.send([server.make(DeviceEvent, DEV, **fields)]).json()["accepted"] == 1


def build_history(server: Server) -> None:
    at(server, "01:30")
    birth = server.make(DeviceStatus, DEV, state="online")
    server.send([birth])
    at(server, "02:00")
    event(server, DeviceEventKind.FAULT_RAISED, "PRN_PAPER_OUT")
    at(server, "02:15")
    [fault] = server.get("/api/v1/faults", "vendor_a", open="true").json()
    assert server.post(f"/api/v1/faults/{fault['id']}/ack", "vendor_a").status_code == 200
    at(server, "02:20")  # a second acknowledgement does not move the first
    assert server.post(f"/api/v1/faults/{fault['id']}/ack", "manager").status_code == 200
    at(server, "02:45")
    event(server, DeviceEventKind.FAULT_CLEARED, "PRN_PAPER_OUT")
    at(server, "05:00")
    event(server, DeviceEventKind.OUT_OF_SERVICE_ON)
    at(server, "05:30")
    event(server, DeviceEventKind.OUT_OF_SERVICE_OFF)
    at(server, "08:00")
    event(server, DeviceEventKind.FAULT_RAISED, "CARD_JAM")
    at(server, "09:00")
    will = DeviceStatus(
        **{
            **birth.model_dump(),
            "id": "will1111will1111",
            "state": "offline",
            "will": True,
            "ts": server.clock.now(),
        }
    )
    server.send([will])
    at(server, "11:00")
    server.send([server.make(DeviceStatus, DEV, state="online", faults=[])])
    at(server, "12:00")
    event(server, DeviceEventKind.FAULT_RAISED, "PRN_PAPER_OUT")
    server.clock.set(datetime.fromisoformat("2026-11-24T00:00:00+00:00"))


EXPECTED = {
    "opening_s": 32400.0,
    "downtime_open_s": 11700.0,
    "availability_pct": 63.889,
    "faults": 3,
    "mean_time_to_respond_s": 900.0,
    "mean_time_to_repair_s": 6750.0,
    "longest_outage_s": 14400.0,
    "open_faults": 1,
    "faults_by_code": {"CARD_JAM": 1, "PRN_PAPER_OUT": 2},
}


def test_device_and_vendor_reports_match_hand_computation(
    make_server: Callable[..., Server], sql_url: str
) -> None:
    server = make_server(sql_url=sql_url)
    build_history(server)
    report = server.get(f"/api/v1/reports/devices/{server.site}/{DEV}", "vendor_a", **PERIOD).json()
    assert {k: report[k] for k in EXPECTED} == EXPECTED
    episodes = server.get(f"/api/v1/sites/{server.site}/devices/{DEV}/episodes", "vendor_a").json()
    assert [(e["state"], e["start"][11:16], e["fault_code"]) for e in episodes] == [
        ("online", "01:30", None),
        ("faulted", "02:00", "PRN_PAPER_OUT"),
        ("online", "02:45", None),
        ("out_of_service", "05:00", None),
        ("online", "05:30", None),
        ("faulted", "08:00", "CARD_JAM"),
        ("offline", "09:00", None),
        ("online", "11:00", None),
        ("faulted", "12:00", "PRN_PAPER_OUT"),
    ]
    vendor = server.get("/api/v1/reports/vendors/huaxin-maint", "vendor_a", **PERIOD).json()
    assert [d["device"] for d in vendor["devices"]] == ["kiosk-bill-1", DEV]
    assert vendor["devices"][0]["availability_pct"] == 100.0
    assert (vendor["availability_pct"], vendor["faults"], vendor["open_faults"]) == (81.944, 3, 1)
    assert (
        vendor["mean_time_to_respond_s"],
        vendor["mean_time_to_repair_s"],
        vendor["longest_outage_s"],
    ) == (
        900.0,
        6750.0,
        14400.0,
    )
    assert [f["code"] for f in vendor["fault_log"]] == ["PRN_PAPER_OUT", "CARD_JAM", "PRN_PAPER_OUT"]
    assert vendor["title_zh"].startswith("代维报告")


def test_csv_and_monthly_hall_report(server: Server) -> None:
    build_history(server)
    resp = server.get(f"/api/v1/reports/devices/{server.site}/{DEV}", "manager", format="csv", **PERIOD)
    assert resp.headers["content-type"].startswith("text/csv")
    [row] = list(csv.DictReader(io.StringIO(resp.text)))
    assert (row["availability_pct"], row["mean_time_to_repair_s"], row["faults_by_code"]) == (
        "63.889",
        "6750.0",
        "CARD_JAM:1;PRN_PAPER_OUT:2",
    )
    monthly = server.get(f"/api/v1/reports/sites/{server.site}/monthly", "manager", month="2026-11").json()
    assert len(monthly["devices"]) == 7
    assert monthly["faults"] == 3
    assert monthly["open_faults"] == 1
    assert monthly["period_start"].startswith("2026-10-31T16:00")
    assert "月度设备报告" in monthly["title_zh"]
    assert "Monthly device report" in monthly["title_en"]
    bad = server.get(f"/api/v1/reports/sites/{server.site}/monthly", "manager", month="2026-13")
    assert bad.status_code == 422
    assert bad.json()["message"]
    csv_month = server.get(
        f"/api/v1/reports/sites/{server.site}/monthly", "admin", month="2026-11", format="csv"
    )
    assert len(list(csv.DictReader(io.StringIO(csv_month.text)))) == 7
