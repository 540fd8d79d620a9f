"""Device, vendor and monthly hall reports, and the daily ticket outlier report (JSON or CSV)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response
from sqlalchemy import select

from server.api.deps import CtxDep, DeviceReaderDep, ManagerDep, SessionDep, check_site, site_row
from server.api.errors import ERROR_RESPONSES
from server.api.routes.devices import get_visible_device, visible
from server.reports import DeviceReport, GroupReport, device_report, devices_csv, group_report, month_period
from server.storage.models import Device
from server.ticket_report import TicketOutlierReport, outlier_report, outliers_csv

router = APIRouter(tags=["reports"])
Format = Literal["json", "csv"]
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
        "(itself only; another vendor answers 404). Per device and in total, over [start, end)."
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
    )
    return _csv(devices_csv(report.devices), f"vendor-{vendor}") if format == "csv" else report


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
    )
    return _csv(devices_csv(report.devices), f"{site}-{month}") if format == "csv" else report


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
