"""Devices, their state episodes, and faults (with acknowledgement)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict
from sqlalchemy import or_, select

from server.api.deps import CtxDep, DeviceReaderDep, SessionDep
from server.api.errors import ERROR_RESPONSES
from server.core.security import Principal
from server.live import DeviceView
from server.reports import FaultEntry
from server.storage.models import Device, DeviceEpisode, DeviceFault

router = APIRouter(tags=["devices"])

ROLE_TEXT = (
    "**Role: admin** (every device), **manager** (devices of their sites) or **vendor** (its "
    "own devices, in every site); a device or fault out of the token's scope answers 404, like a missing one."
)


class DeviceOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site: str
    id: str
    vendor: str
    kind: str | None
    model: str | None
    zone: str | None
    configured: bool
    live: DeviceView | None


class EpisodeOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: str
    start: datetime
    end: datetime | None
    fault_code: str | None


def visible(principal: Principal, site: str, vendor: str) -> bool:
    if principal.role == "admin":
        return True
    if principal.role == "manager":
        return site in principal.sites
    if principal.role == "vendor":
        return vendor == principal.vendor
    return False


def get_visible_device(session: SessionDep, principal: Principal, site: str, device: str) -> Device:
    row = session.get(Device, (site, device))
    if row is None or not visible(principal, row.site, row.vendor):
        # out of the token's scope answers like a missing device: nothing to probe
        raise HTTPException(404, f"no device {device!r} in site {site!r}")
    return row


def _out(ctx: CtxDep, row: Device) -> DeviceOut:
    return DeviceOut(
        site=row.site,
        id=row.id,
        vendor=row.vendor,
        kind=row.kind,
        model=row.model,
        zone=row.zone,
        configured=row.configured,
        live=ctx.live.device_view(row.site, row.id),
    )


@router.get(
    "/api/v1/devices", response_model=list[DeviceOut], description=ROLE_TEXT, responses=ERROR_RESPONSES
)
def list_devices(
    principal: DeviceReaderDep,
    ctx: CtxDep,
    session: SessionDep,
    site: Annotated[str | None, Query(max_length=64, description="Only this site.")] = None,
) -> list[DeviceOut]:
    q = select(Device).order_by(Device.site, Device.id)
    if site is not None:
        q = q.where(Device.site == site)
    return [_out(ctx, r) for r in session.scalars(q) if visible(principal, r.site, r.vendor)]


@router.get(
    "/api/v1/sites/{site}/devices/{device}",
    response_model=DeviceOut,
    description=ROLE_TEXT,
    responses=ERROR_RESPONSES,
)
def get_device(
    site: str, device: str, principal: DeviceReaderDep, ctx: CtxDep, session: SessionDep
) -> DeviceOut:
    return _out(ctx, get_visible_device(session, principal, site, device))


@router.get(
    "/api/v1/sites/{site}/devices/{device}/episodes",
    response_model=list[EpisodeOut],
    description=ROLE_TEXT + " State episodes overlapping [start, end) (all when not given).",
    responses=ERROR_RESPONSES,
)
def episodes(
    site: str,
    device: str,
    principal: DeviceReaderDep,
    session: SessionDep,
    start: Annotated[datetime | None, Query(description="From (ISO 8601 with offset).")] = None,
    end: Annotated[datetime | None, Query(description="Until (exclusive).")] = None,
) -> list[EpisodeOut]:
    get_visible_device(session, principal, site, device)
    q = select(DeviceEpisode).where(DeviceEpisode.site == site, DeviceEpisode.device == device)
    if end is not None:
        q = q.where(DeviceEpisode.start < _aware(end))
    if start is not None:
        q = q.where(or_(DeviceEpisode.end.is_(None), DeviceEpisode.end > _aware(start)))
    rows = session.scalars(q.order_by(DeviceEpisode.start, DeviceEpisode.id).limit(10_000))
    return [EpisodeOut(state=r.state, start=r.start, end=r.end, fault_code=r.fault_code) for r in rows]


def _aware(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise HTTPException(422, "timestamps need a UTC offset, e.g. 2026-11-23T09:00:00Z")
    return when


@router.get(
    "/api/v1/faults", response_model=list[FaultEntry], description=ROLE_TEXT, responses=ERROR_RESPONSES
)
def faults(
    principal: DeviceReaderDep,
    session: SessionDep,
    site: Annotated[str | None, Query(max_length=64, description="Only this site.")] = None,
    open_only: Annotated[bool, Query(alias="open", description="Only faults not cleared.")] = False,
) -> list[FaultEntry]:
    q = select(DeviceFault)
    if site is not None:
        q = q.where(DeviceFault.site == site)
    if open_only:
        q = q.where(DeviceFault.cleared_at.is_(None))
    if principal.role == "vendor":
        q = q.where(DeviceFault.vendor == principal.vendor)
    rows = session.scalars(q.order_by(DeviceFault.raised_at, DeviceFault.id).limit(10_000))
    return [FaultEntry.of(f) for f in rows if visible(principal, f.site, f.vendor)]


@router.post(
    "/api/v1/faults/{fault_id}/ack",
    response_model=FaultEntry,
    description=ROLE_TEXT
    + " Records the first acknowledgement (mean time to respond); later ones are kept out.",
    responses=ERROR_RESPONSES,
)
def ack_fault(fault_id: int, principal: DeviceReaderDep, ctx: CtxDep, session: SessionDep) -> FaultEntry:
    f = session.get(DeviceFault, fault_id) if -(2**62) < fault_id < 2**62 else None
    if f is None or not visible(principal, f.site, f.vendor):  # out of scope answers like missing
        raise HTTPException(404, f"no fault {fault_id}")
    if f.acknowledged_at is None:
        f.acknowledged_at = ctx.clock.now()
        f.acknowledged_by = principal.name
    return FaultEntry.of(f)
