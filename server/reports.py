"""Vendor and device reports: availability within opening hours, faults, response and repair
times (each fault against its vendor's targets), longest outage, open faults, faults by code;
the monthly device log of a hall.

The definitions of these figures are in ``docs/server.md``, "Reports";
``tests/server/test_reports.py`` holds a hand-computed example to them.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from lobbywatch.config.vendors import ServiceLevels, VendorServiceLevel
from server import opening_hours as hours
from server.opening_hours import Interval, length, merge, overlap
from server.service_levels import target_use
from server.storage.models import Device, DeviceEpisode, DeviceFault, Site

DOWN_STATES = ("offline", "faulted", "out_of_service")


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeviceReport(_Out):
    site: str
    device: str
    vendor: str
    kind: str | None = None
    period_start: datetime
    period_end: datetime
    opening_s: float = Field(description="Opening time in the period, seconds.")
    downtime_open_s: float = Field(description="Downtime within opening hours, seconds.")
    availability_pct: float | None = Field(description="Availability within opening hours, %.")
    faults: int = Field(description="Faults raised in the period.")
    mean_time_to_respond_s: float | None = Field(description="Raised -> first acknowledgement, mean.")
    mean_time_to_repair_s: float | None = Field(description="Raised -> cleared, mean.")
    longest_outage_s: float = Field(description="Longest contiguous downtime in the period.")
    open_faults: int = Field(description="Faults not cleared at the period's end.")
    faults_by_code: dict[str, int] = Field(description="Faults raised in the period, per code.")


class FaultEntry(_Out):
    id: int
    site: str
    device: str
    vendor: str
    code: str
    severity: str | None
    raised_at: datetime
    acknowledged_at: datetime | None
    cleared_at: datetime | None
    repair_s: float | None
    respond_target_s: float | None = Field(default=None, description="The vendor's response target.")
    respond_open_s: float | None = Field(
        default=None, description="Raised -> first acknowledgement, in opening hours (so far, if none)."
    )
    respond_met: bool | None = Field(
        default=None, description="Target met (true), missed (false), or not decided yet / none (null)."
    )
    repair_target_s: float | None = Field(default=None, description="The vendor's repair target.")
    repair_open_s: float | None = Field(
        default=None, description="Raised -> cleared, in opening hours (so far, while open)."
    )
    repair_met: bool | None = Field(default=None, description="As respond_met, for the repair.")

    @classmethod
    def of(cls, f: DeviceFault) -> FaultEntry:
        """The entry of one stored fault (repair time once it is cleared)."""
        return cls(
            id=f.id,
            site=f.site,
            device=f.device,
            vendor=f.vendor,
            code=f.code,
            severity=f.severity,
            raised_at=f.raised_at,
            acknowledged_at=f.acknowledged_at,
            cleared_at=f.cleared_at,
            repair_s=(f.cleared_at - f.raised_at).total_seconds() if f.cleared_at else None,
        )


def against_targets(
    entry: FaultEntry, site: Site, level: VendorServiceLevel | None, now: datetime
) -> FaultEntry:
    """``entry`` with its response and repair times in opening hours against the vendor's
    targets (docs/server.md, "Reports"); unchanged when the vendor has none."""
    if level is None:
        return entry
    periods = json.loads(site.opening_hours)
    out: dict[str, Any] = {}
    for target, done in (("respond", entry.acknowledged_at), ("repair", entry.cleared_at)):
        target_s = level.target_s(target)
        if target_s is None:
            continue
        use = target_use(site.timezone, periods, entry.raised_at, done, now, target_s)
        out |= {
            f"{target}_target_s": target_s,
            f"{target}_open_s": round(use.used_s, 3),
            f"{target}_met": use.met,
        }
    return entry.model_copy(update=out)


class GroupReport(_Out):
    """A vendor's devices, or a hall's devices in a month."""

    title_en: str
    title_zh: str
    period_start: datetime
    period_end: datetime
    availability_pct: float | None
    faults: int
    mean_time_to_respond_s: float | None
    mean_time_to_repair_s: float | None
    longest_outage_s: float
    open_faults: int
    faults_by_code: dict[str, int]
    respond_missed: int = Field(description="Faults whose response target was missed.")
    repair_missed: int = Field(description="Faults whose repair target was missed.")
    devices: list[DeviceReport]
    fault_log: list[FaultEntry] = Field(description="Each fault, against its vendor's targets.")


def opening_intervals(site: Site, start: datetime, end: datetime) -> list[Interval]:
    """The site's opening hours within [start, end), as UTC intervals."""
    return hours.opening_intervals(site.timezone, json.loads(site.opening_hours), start, end)


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def _pct(opening: float, down: float) -> float | None:
    return round(100.0 * (opening - down) / opening, 3) if opening > 0 else None


def device_report(
    session: Session, device: Device, site: Site, start: datetime, end: datetime, now: datetime
) -> tuple[DeviceReport, list[FaultEntry]]:
    """One device's report over ``[start, end)`` (figures defined in ``docs/server.md``,
    "Reports"), and the faults raised in the period for the fault log. Down episodes still
    open count until ``now`` (or ``end``, if earlier).
    """
    horizon = min(end, now) if now > start else end
    episodes = session.scalars(
        select(DeviceEpisode).where(
            DeviceEpisode.site == device.site,
            DeviceEpisode.device == device.id,
            DeviceEpisode.start < end,
            or_(DeviceEpisode.end.is_(None), DeviceEpisode.end > start),
        )
    ).all()
    down: list[Interval] = []
    for ep in episodes:
        if ep.state not in DOWN_STATES:
            continue
        a = max(ep.start, start)
        b = min(ep.end if ep.end is not None else horizon, end)
        if a < b:
            down.append((a, b))
    down = merge(down)
    opening = opening_intervals(site, start, end)
    opening_s = length(opening)
    down_open = overlap(opening, down)
    faults = session.scalars(
        select(DeviceFault)
        .where(DeviceFault.site == device.site, DeviceFault.device == device.id, DeviceFault.raised_at < end)
        .order_by(DeviceFault.raised_at, DeviceFault.id)
    ).all()
    in_period = [f for f in faults if f.raised_at >= start]
    respond = [(f.acknowledged_at - f.raised_at).total_seconds() for f in in_period if f.acknowledged_at]
    repair = [(f.cleared_at - f.raised_at).total_seconds() for f in in_period if f.cleared_at]
    open_faults = sum(1 for f in faults if f.cleared_at is None or f.cleared_at >= end)
    report = DeviceReport(
        site=device.site,
        device=device.id,
        vendor=device.vendor,
        kind=device.kind,
        period_start=start,
        period_end=end,
        opening_s=opening_s,
        downtime_open_s=down_open,
        availability_pct=_pct(opening_s, down_open),
        faults=len(in_period),
        mean_time_to_respond_s=_mean(respond),
        mean_time_to_repair_s=_mean(repair),
        longest_outage_s=max((length([iv]) for iv in down), default=0.0),
        open_faults=open_faults,
        faults_by_code=dict(sorted(Counter(f.code for f in in_period).items())),
    )
    return report, [FaultEntry.of(f) for f in in_period]


def group_report(
    session: Session,
    devices: list[Device],
    start: datetime,
    end: datetime,
    now: datetime,
    *,
    title_en: str,
    title_zh: str,
    levels: Mapping[str, ServiceLevels] | None = None,
) -> GroupReport:
    """The report of several devices (a vendor's, a hall's): each device's :func:`device_report`,
    then the totals (availability over the summed opening time, means over every fault of the
    group, the longest single outage) and the fault log in time order, each fault against
    its vendor's targets in its hall's ``levels`` (site -> service levels). Devices of
    unknown sites are left out.
    """
    sites = {s.id: s for s in session.scalars(select(Site))}
    reports: list[DeviceReport] = []
    log: list[FaultEntry] = []
    for dev in sorted(devices, key=lambda d: (d.site, d.id)):
        site = sites.get(dev.site)
        if site is None:
            continue
        r, entries = device_report(session, dev, site, start, end, now)
        reports.append(r)
        level = levels[site.id].of(dev.vendor) if levels and site.id in levels else None
        log += [against_targets(e, site, level, min(now, end)) for e in entries]
    opening = sum(r.opening_s for r in reports)
    down = sum(r.downtime_open_s for r in reports)
    respond = [(f.acknowledged_at - f.raised_at).total_seconds() for f in log if f.acknowledged_at]
    by_code: Counter[str] = Counter()
    for r in reports:
        by_code.update(r.faults_by_code)
    return GroupReport(
        title_en=title_en,
        title_zh=title_zh,
        period_start=start,
        period_end=end,
        availability_pct=_pct(opening, down),
        faults=len(log),
        mean_time_to_respond_s=_mean(respond),
        mean_time_to_repair_s=_mean([f.repair_s for f in log if f.repair_s is not None]),
        longest_outage_s=max((r.longest_outage_s for r in reports), default=0.0),
        open_faults=sum(r.open_faults for r in reports),
        faults_by_code=dict(sorted(by_code.items())),
        respond_missed=sum(1 for f in log if f.respond_met is False),
        repair_missed=sum(1 for f in log if f.repair_met is False),
        devices=reports,
        fault_log=sorted(log, key=lambda f: (f.raised_at, f.id)),
    )


def month_period(site: Site, month: str) -> tuple[datetime, datetime]:
    """``2026-11`` -> the month's start and end in the site's time zone, as UTC."""
    year, mon = (int(x) for x in month.split("-"))
    tz = ZoneInfo(site.timezone)
    start = datetime(year, mon, 1, tzinfo=tz)
    nxt = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=tz)
    return start.astimezone(UTC), nxt.astimezone(UTC)


CSV_COLUMNS = (
    "site",
    "device",
    "vendor",
    "kind",
    "period_start",
    "period_end",
    "opening_s",
    "downtime_open_s",
    "availability_pct",
    "faults",
    "mean_time_to_respond_s",
    "mean_time_to_repair_s",
    "longest_outage_s",
    "open_faults",
    "faults_by_code",
)


FAULT_COLUMNS = tuple(FaultEntry.model_fields)


def faults_csv(entries: list[FaultEntry]) -> str:
    """One row per fault, with its targets and whether they were met. Header names are the JSON keys."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(FAULT_COLUMNS)
    for e in entries:
        data = e.model_dump(mode="json")
        w.writerow(["" if data[c] is None else data[c] for c in FAULT_COLUMNS])
    return buf.getvalue()


def devices_csv(reports: list[DeviceReport]) -> str:
    """One row per device; faults_by_code as ``CODE:n;CODE:n``. Header names are the JSON keys."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in reports:
        data = r.model_dump(mode="json")
        data["faults_by_code"] = ";".join(f"{k}:{v}" for k, v in r.faults_by_code.items())
        w.writerow(["" if data[c] is None else data[c] for c in CSV_COLUMNS])
    return buf.getvalue()
