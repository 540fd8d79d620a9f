"""The monthly device log: made when a month is over (the injected clock crosses the
boundary), mailed with CSV and HTML attachments to the hall's manager and each vendor
(a real SMTP receiver), kept for download (vendors see their own), never sent twice after a
restart."""

from __future__ import annotations

import csv
import email
import io
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from lobbywatch.clock import FixedClock
from lobbywatch.protocol.messages import DeviceEvent
from lobbywatch.services import wait_until
from server.core.security import create_token

from .alerts.helpers_hall import hall_dict
from .alerts.helpers_receivers import SmtpReceiver, start_smtp
from .alerts.helpers_server import Served, served

pytestmark = pytest.mark.real

LAST_DAY = "2026-11-30T15:30:00Z"  # Monday 30 November, 23:30 in the hall
NEXT_MONTH = "2026-11-30T16:00:30Z"  # Tuesday 1 December, 00:00:30 in the hall


def _hall(site: str, smtp: SmtpReceiver) -> dict[str, Any]:
    def mail(name: str, to: str) -> dict[str, Any]:
        return {
            "name": name,
            "type": "email",
            "host": smtp.host,
            "port": smtp.port,
            "starttls": False,
            "sender": "lobbywatch@example.com",
            "to": [to],
        }

    return hall_dict(
        site,
        notifications={
            "channels": [
                mail("manager-mail", "manager@example.com"),
                mail("v1-mail", "service@v-one.example"),
            ],
            "routes": [],
            "escalation": [],
        },
        service_levels={
            "manager_report_channels": ["manager-mail"],
            "vendors": [{"vendor": "v-one", "repair_min": 240, "report_channels": ["v1-mail"]}],
        },
    )


def _vendor_tokens(s: Served) -> None:
    with s.app.state.ctx.db.session() as session:
        for vendor in ("v-one", "v-two"):
            _row, token = create_token(
                session, name=vendor, role="vendor", vendor=vendor, created_at=s.clock.now()
            )
            assert token is not None
            s.tokens[vendor] = token


def _files(mail: bytes) -> dict[str, str]:
    """The attachments of a mail: file name -> text."""
    out: dict[str, str] = {}
    for part in email.message_from_bytes(mail).walk():
        name = part.get_filename()
        if name:
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            out[name] = payload.decode()
    return out


def test_monthly_logs_are_mailed_once_and_kept_for_download(tmp_path: Path, site_id: str) -> None:
    smtp, _thread = start_smtp()
    clock = FixedClock.at(LAST_DAY)
    cfg = _hall(site_id, smtp)
    with served(tmp_path, clock, cfg) as s:
        # the logs of October (the month before the server first ran) are made at start
        octobers = smtp.wait_for(2)
        assert sorted(r for m in octobers for r in m.recipients) == [
            "manager@example.com",
            "service@v-one.example",
        ]
        s.ingest([s.make(DeviceEvent, "k1", event="fault_raised", code="PRN_JAM", unusable=True)])
        clock.set(datetime.fromisoformat(NEXT_MONTH.replace("Z", "+00:00")))  # December: November is over
        mails = smtp.wait_for(4)[2:]
        by_to = {m.recipients[0]: m for m in mails}
        assert set(by_to) == {"manager@example.com", "service@v-one.example"}
        vendor_files = _files(by_to["service@v-one.example"].data)
        assert set(vendor_files) == {
            f"{site_id}-2026-11-v-one.csv",
            f"{site_id}-2026-11-v-one-faults.csv",
            f"{site_id}-2026-11-v-one.html",
        }
        devices = list(csv.DictReader(io.StringIO(vendor_files[f"{site_id}-2026-11-v-one.csv"])))
        assert [d["device"] for d in devices] == ["k1", "k2"]  # v-one's devices only
        [fault] = list(csv.DictReader(io.StringIO(vendor_files[f"{site_id}-2026-11-v-one-faults.csv"])))
        assert (fault["code"], fault["repair_target_s"], fault["repair_met"]) == ("PRN_JAM", "14400.0", "")
        page = vendor_files[f"{site_id}-2026-11-v-one.html"]
        assert "月度设备维护日志" in page
        assert "Monthly device log 2026-11" in page
        assert "PRN_JAM" in page
        manager_files = _files(by_to["manager@example.com"].data)
        assert f"{site_id}-2026-11.csv" in manager_files
        all_devices = manager_files[f"{site_id}-2026-11.csv"]
        assert [d["device"] for d in csv.DictReader(io.StringIO(all_devices))] == ["k1", "k2", "k3"]

        # kept for download: the manager sees every log of the hall, a vendor its own
        _vendor_tokens(s)
        listed = s.get("/api/v1/reports/device-logs?month=2026-11").json()
        assert [e["recipient"] for e in listed] == ["manager", "vendor:v-one", "vendor:v-two"]
        assert all(e["sent_at"] for e in listed[:2])
        assert listed[2]["sent_at"] is None  # v-two names no e-mail channel: download only
        mine = s.get("/api/v1/reports/device-logs", "v-one").json()
        assert {(e["month"], e["recipient"]) for e in mine} == {
            ("2026-10", "vendor:v-one"),
            ("2026-11", "vendor:v-one"),
        }
        page_url = next(e for e in mine if e["month"] == "2026-11")["files"]["html"]
        answer = s.get(page_url, "v-one")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/html")
        assert s.get(page_url, "v-two").status_code == 404  # another vendor's: as if missing
        assert s.get(listed[0]["files"]["csv"], "v-one").status_code == 404  # the manager's
        assert s.get(listed[0]["files"]["faults.csv"], "stranger").status_code == 404
        assert s.get(listed[0]["files"]["csv"]).text.startswith("site,device,vendor")

    # a restart in the same month sends nothing again
    with served(tmp_path, clock, cfg) as s:
        assert wait_until(lambda: s.app.state.ctx.device_logs.done, 10)
        clock.advance(3600)
        assert not wait_until(lambda: len(smtp.mails) > 4, 3)
        assert len(s.get("/api/v1/reports/device-logs").json()) == 6
