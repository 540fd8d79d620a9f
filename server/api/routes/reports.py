"""Device, vendor and monthly hall reports, and the daily ticket outlier report (JSON or CSV);
the monthly device logs kept for download (list and files; :mod:`server.device_logs` makes
them)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from lobbywatch.config.vendors import ServiceLevels
from server.api.deps import CtxDep, DeviceReaderDep, ManagerDep, SessionDep, check_site, site_row
from server.api.errors import ERROR_RESPONSES
from server.api.routes.devices import get_visible_device, visible
from server.core.security import Principal
from server.device_logs import file_name
from server.reports import (
    DeviceReport,
    GroupReport,
    device_report,
    devices_csv,
    faults_csv,
    group_report,
    month_period,
)
from server.storage.models import Device, DeviceLog
from server.ticket_report import TicketOutlierReport, outlier_report, outliers_csv

router = APIRouter(tags=["reports"])
Format = Literal["json", "csv"]
Rows = Literal["devices", "faults"]
RowsQuery = Annotated[
    Rows, Query(description="CSV rows: one per device, or one per fault with its targets met or missed.")
]
_CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "The report (JSON, or CSV with format=csv)."}
}


def period(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    if start.tzinfo is None or end.tzinfo is None:
        raise HTTPException(422, "start and end need a UTC offset, e.g. 2026-11-01T00:00:00Z")
    if end <= start:
        raise HTTPException(422, "end must be after start")
    if (end - start).days > 400:
        raise HTTPException(422, "a report covers at most 400 days")
    return start, end


def levels(ctx: Any) -> dict[str, ServiceLevels]:
    """Each hall's vendor targets (the faults of a report are judged against them)."""
    return {site: cfg.service_levels for site, cfg in ctx.registry.configs.items()}


def _group_csv(report: GroupReport, rows: Rows, name: str) -> Response:
    body = devices_csv(report.devices) if rows == "devices" else faults_csv(report.fault_log)
    return _csv(body, name if rows == "devices" else f"{name}-faults")


def _csv(body: str, name: str) -> Response:
    return Response(
        body, media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}.csv"'}
    )


@router.get(
    "/api/v1/reports/devices/{site}/{device}",
    response_model=DeviceReport,
    description=(
        "**Role: admin, manager** (of the site) **or vendor** (own devices; another vendor's "
        "device answers 404). Availability within opening hours, faults, response and repair "
        "times, longest outage, open faults, faults by code, over [start, end)."
    ),
    responses={**ERROR_RESPONSES, **_CSV},
)
def device_report_route(
    site: str,
    device: str,
    principal: DeviceReaderDep,
    ctx: CtxDep,
    session: SessionDep,
    start: Annotated[datetime, Query(description="Period start (ISO 8601 with offset).")],
    end: Annotated[datetime, Query(description="Period end (exclusive).")],
    format: Annotated[Format, Query(description="json or csv.")] = "json",
) -> DeviceReport | Response:
    a, b = period(start, end)
    dev = get_visible_device(session, principal, site, device)
    hall = site_row(session, site)
    report, _ = device_report(session, dev, hall, a, b, ctx.clock.now())
    return _csv(devices_csv([report]), f"{site}-{device}") if format == "csv" else report


@router.get(
    "/api/v1/reports/vendors/{vendor}",
    response_model=GroupReport,
    description=(
        "**Role: admin, manager** (the vendor's devices in the manager's sites) **or vendor** "
        "(itself only; another vendor answers 404). Per device and in total, over [start, end); "
        "the fault log shows each fault's response and repair time in opening hours against the "
        "vendor's targets (the hall's service_levels), met or missed."
    ),
    responses={**ERROR_RESPONSES, **_CSV},
)
def vendor_report(
    vendor: str,
    principal: DeviceReaderDep,
    ctx: CtxDep,
    session: SessionDep,
    start: Annotated[datetime, Query(description="Period start (ISO 8601 with offset).")],
    end: Annotated[datetime, Query(description="Period end (exclusive).")],
    format: Annotated[Format, Query(description="json or csv.")] = "json",
    rows: RowsQuery = "devices",
) -> GroupReport | Response:
    a, b = period(start, end)
    if principal.role == "vendor" and principal.vendor != vendor:
        raise HTTPException(404, f"no vendor {vendor!r}")
    devices = [
        d
        for d in session.scalars(select(Device).where(Device.vendor == vendor))
        if visible(principal, d.site, d.vendor)
    ]
    if not devices and principal.role != "manager":
        raise HTTPException(404, f"no vendor {vendor!r}")
    report = group_report(
        session,
        devices,
        a,
        b,
        ctx.clock.now(),
        title_en=f"Vendor report: {vendor}",
        title_zh=f"代维报告：{vendor}",
        levels=levels(ctx),
    )
    return _group_csv(report, rows, f"vendor-{vendor}") if format == "csv" else report


@router.get(
    "/api/v1/reports/sites/{site}/monthly",
    response_model=GroupReport,
    description=(
        "**Role: admin or manager** (of the site). The hall's monthly device maintenance log: "
        "every device's availability, faults, downtime and repair times, and the fault log, "
        "for a calendar month in the hall's time zone."
    ),
    responses={**ERROR_RESPONSES, **_CSV},
)
def monthly_report(
    site: str,
    principal: ManagerDep,
    ctx: CtxDep,
    session: SessionDep,
    month: Annotated[str, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM.")],
    format: Annotated[Format, Query(description="json or csv.")] = "json",
    rows: RowsQuery = "devices",
) -> GroupReport | Response:
    check_site(ctx, principal, site)
    if not re.match(r"^\d{4}-(0[1-9]|1[0-2])$", month) or not 1970 <= int(month[:4]) <= 9998:
        raise HTTPException(422, "month must be YYYY-MM")
    hall = site_row(session, site)
    a, b = month_period(hall, month)
    devices = list(session.scalars(select(Device).where(Device.site == site)))
    report = group_report(
        session,
        devices,
        a,
        b,
        ctx.clock.now(),
        title_en=f"Monthly device report {month}: {hall.name_en}",
        title_zh=f"{month} 月度设备报告：{hall.name_zh}",
        levels=levels(ctx),
    )
    return _group_csv(report, rows, f"{site}-{month}") if format == "csv" else report


@router.get(
    "/api/v1/reports/sites/{site}/ticket-outliers",
    response_model=TicketOutlierReport,
    description=(
        "**Role: admin or manager** (of the site). Transactions of one local day per counter and "
        "business type, from the queue tickets: served, median and longest, and those past the "
        'business type\'s limit (docs/server.md, "Reports").'
    ),
    responses={**ERROR_RESPONSES, **_CSV},
)
def ticket_outlier_report(
    site: str,
    principal: ManagerDep,
    ctx: CtxDep,
    session: SessionDep,
    day: Annotated[date, Query(description="The hall's local day, YYYY-MM-DD.")],
    format: Annotated[Format, Query(description="json or csv.")] = "json",
) -> TicketOutlierReport | Response:
    check_site(ctx, principal, site)
    cfg = ctx.registry.configs.get(site)
    if cfg is None:
        raise HTTPException(404, f"no hall file for site {site!r}")
    report = outlier_report(session, cfg, day)
    return _csv(outliers_csv(report), f"{site}-tickets-{day}") if format == "csv" else report


LOG_FILES: dict[str, str] = {"csv": "text/csv", "faults.csv": "text/csv", "html": "text/html"}


class DeviceLogEntry(BaseModel):
    """A monthly device log kept for download."""

    id: int
    site: str
    month: str
    recipient: str = Field(description="manager, or vendor:<id>.")
    vendor: str | None
    created_at: datetime
    sent_at: datetime | None = Field(description="When it was mailed; null: not (yet) mailed.")
    error: str | None = Field(description="Why the last mailing failed.")
    files: dict[str, str] = Field(description="Download paths: csv, faults.csv, html.")


def _visible_log(principal: Principal, row: DeviceLog) -> bool:
    """A vendor sees its own logs only; a manager its halls' logs (the manager's and vendors')."""
    return visible(principal, row.site, row.vendor or "")


@router.get(
    "/api/v1/reports/device-logs",
    response_model=list[DeviceLogEntry],
    description=(
        "**Role: admin, manager** (of the site) **or vendor** (its own logs only). The monthly "
        "device logs made on the first day of each month (one for the hall's manager, one per "
        "vendor), newest first."
    ),
    responses=ERROR_RESPONSES,
)
def device_logs(
    principal: DeviceReaderDep,
    session: SessionDep,
    site: Annotated[str | None, Query(max_length=64, description="Only this site.")] = None,
    month: Annotated[str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM.")] = None,
) -> list[DeviceLogEntry]:
    q = select(DeviceLog).order_by(DeviceLog.month.desc(), DeviceLog.site, DeviceLog.recipient)
    if site is not None:
        q = q.where(DeviceLog.site == site)
    if month is not None:
        q = q.where(DeviceLog.month == month)
    if principal.role == "vendor":
        q = q.where(DeviceLog.vendor == principal.vendor)
    return [
        DeviceLogEntry(
            id=r.id,
            site=r.site,
            month=r.month,
            recipient=r.recipient,
            vendor=r.vendor,
            created_at=r.created_at,
            sent_at=r.sent_at,
            error=r.error,
            files={kind: f"/api/v1/reports/device-logs/{r.id}/{kind}" for kind in LOG_FILES},
        )
        for r in session.scalars(q.limit(10_000))
        if _visible_log(principal, r)
    ]


@router.get(
    "/api/v1/reports/device-logs/{log_id}/{kind}",
    description=(
        "**Role: admin, manager** (of the site) **or vendor** (its own logs; another's answers "
        "404). One file of a monthly device log: csv (per device), faults.csv (per fault, "
        "against the vendor's targets) or html (both, readable, zh-CN and en)."
    ),
    responses={
        **ERROR_RESPONSES,
        200: {"content": {"text/csv": {}, "text/html": {}}, "description": "The file."},
    },
)
def device_log_file(
    log_id: int, kind: Literal["csv", "faults.csv", "html"], principal: DeviceReaderDep, session: SessionDep
) -> Response:
    row = session.get(DeviceLog, log_id) if -(2**62) < log_id < 2**62 else None
    if row is None or not _visible_log(principal, row):  # out of scope answers like missing
        raise HTTPException(404, f"no device log {log_id}")
    body = {"csv": row.csv, "faults.csv": row.faults_csv, "html": row.html}[kind]
    disposition = f'attachment; filename="{file_name(row, kind)}"'
    return Response(body, media_type=LOG_FILES[kind], headers={"Content-Disposition": disposition})
