"""The hall downlink over the gateway's own connection (long poll and acknowledgement,
``lobbywatch/protocol/downlink.py``), and the device commands that travel on it (remote
out-of-service). The queue itself is :mod:`server.downlink`; see docs/gateway.md ("Downlink")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from lobbywatch.protocol.downlink import (
    MAX_WAIT_S,
    AckResult,
    DownlinkAck,
    DownlinkBatch,
    downlink_ack_path,
    downlink_path,
)
from lobbywatch.protocol.enums import DeviceCommandKind
from lobbywatch.protocol.fields import ShortText
from server.api.deps import CtxDep, GatewayDep, ManagerDep, check_site
from server.api.errors import ERROR_RESPONSES, ErrorBody
from server.core.security import Principal
from server.downlink import DownlinkUnavailable, NotGivenOut

router = APIRouter(tags=["downlink"])

GATEWAY_TEXT = "**Role: gateway** of this site (another site's token gets 403)."


def _own_site(principal: Principal, site: str) -> None:
    if site not in principal.sites:
        bound = ", ".join(sorted(principal.sites))
        raise HTTPException(403, f"this gateway token is for site {bound}, not {site!r}")


@router.get(
    downlink_path("{site}"),
    response_model=DownlinkBatch,
    summary="Long poll: what the server has for this hall",
    description=GATEWAY_TEXT
    + " Answers the items numbered above `after`, oldest first, as soon as there is one, or "
    "an empty batch after `wait` seconds. Items stay until acknowledged.",
    responses=ERROR_RESPONSES,
)
async def poll(
    site: str,
    principal: GatewayDep,
    ctx: CtxDep,
    after: Annotated[int, Query(ge=0, le=2**62, description="The last sequence number applied.")] = 0,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT_S, description="Seconds to wait for an item.")] = 25,
) -> DownlinkBatch:
    _own_site(principal, site)
    return await ctx.downlink.wait(site, after, wait)


@router.post(
    downlink_ack_path("{site}"),
    response_model=AckResult,
    summary="Acknowledge what the gateway has put on the hall broker",
    description=GATEWAY_TEXT
    + " Every item up to `seq` is forgotten; 409 when `seq` is above the last number given out.",
    responses={**ERROR_RESPONSES, 409: {"model": ErrorBody}},
)
async def ack(site: str, body: DownlinkAck, principal: GatewayDep, ctx: CtxDep) -> AckResult:
    _own_site(principal, site)
    try:
        return await run_in_threadpool(ctx.downlink.ack, site, body.seq)
    except NotGivenOut as exc:
        raise HTTPException(409, str(exc)) from None


class OutOfServiceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    out_of_service: bool = Field(description="True: put the device out of service; false: back in.")
    detail: ShortText | None = Field(default=None, description="Why (shown in the device log).")


class CommandQueued(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seq: int = Field(description="The command's place in the hall's downlink.")
    command: DeviceCommandKind


@router.post(
    "/api/v1/sites/{site}/devices/{device}/out-of-service",
    response_model=CommandQueued,
    status_code=202,
    summary="Put a device out of service, or back in, remotely",
    description="**Role: admin** or **manager** of the site. Queues a `device_command` for the "
    "hall's gateway; the device confirms with its status, and the device's state (live view, "
    "episodes, reports) shows it once confirmed.",
    responses={**ERROR_RESPONSES, 503: {"model": ErrorBody}},
)
async def out_of_service(
    site: str, device: str, body: OutOfServiceIn, principal: ManagerDep, ctx: CtxDep
) -> CommandQueued:
    await run_in_threadpool(check_site, ctx, principal, site)
    if (site, device) not in ctx.registry.devices:
        raise HTTPException(404, f"no device {device!r} in site {site!r}")
    on, off = DeviceCommandKind.OUT_OF_SERVICE_ON, DeviceCommandKind.OUT_OF_SERVICE_OFF
    kind = on if body.out_of_service else off
    detail = body.detail or f"by {principal.name}"
    try:
        seq = await run_in_threadpool(ctx.downlink.command, site, device, kind, detail)
    except DownlinkUnavailable as exc:
        raise HTTPException(503, f"the command could not be queued: {exc}") from None
    return CommandQueued(seq=seq, command=kind)
