"""Serves the wall, staff, counter and guide pages, their static files, and the hall layout
the wall draws.

* ``GET /wall/{site}``, ``GET /staff``, ``GET /counter/{site}/{counter}`` and
  ``GET /guide/{site}``: the pages (no token: the page asks for one and keeps it in the
  browser's localStorage; ``#token=`` or ``?token=`` hands it over once).
* ``GET /web/static/{name}``: the page assets, package data of :mod:`lobbywatch.web`
  (``lobbywatch/web/static/``, shared with the gateway, which serves the wall in the hall).
* Every page and asset carries ``PAGE_HEADERS`` (CSP, frame-ancestors, nosniff, referrer
  policy); the wall's CSP also lets it reach a hall broker (``WALL_HEADERS``); both are
  :mod:`lobbywatch.web`'s.
* ``GET /api/v1/web/sites/{site}/layout``: names, zones, devices and thresholds of a hall
  (the live state carries ids only), built by :func:`lobbywatch.web.layout.hall_layout`.

The alerts the staff page shows come from :mod:`server.api.routes.alerts`; the counter and
guide pages read :mod:`server.api.routes.counter` and :mod:`server.api.routes.guide`. See
docs/pages.md.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from lobbywatch.protocol.fields import Identifier
from lobbywatch.web import PAGE_HEADERS, WALL_HEADERS, asset, content_type
from lobbywatch.web.layout import hall_layout
from server.api.deps import CtxDep, FloorDep, check_site
from server.api.errors import ERROR_RESPONSES
from server.api.localized import LocalizedOut

router = APIRouter()


def _page(name: str, headers: dict[str, str] = PAGE_HEADERS) -> HTMLResponse:
    body = asset(name)
    if body is None:  # a broken installation, not a user error
        raise HTTPException(500, f"page {name} is missing from the installed package")
    return HTMLResponse(body, headers=headers)


@router.get(
    "/wall/{site}",
    response_class=HTMLResponse,
    tags=["pages"],
    description=(
        "**Role: none** to load; the page reads live state with a **display**, manager or admin "
        "token (`#token=` once, then kept in localStorage). Built-in wall display of one hall."
    ),
)
def wall_page(site: Identifier) -> HTMLResponse:
    return _page("wall.html", WALL_HEADERS)


@router.get(
    "/staff",
    response_class=HTMLResponse,
    tags=["pages"],
    description=(
        "**Role: none** to load; the page uses a **manager** or admin token (`#token=` once, "
        "then kept in localStorage). Active alerts of the token's halls, with acknowledge."
    ),
)
def staff_page() -> HTMLResponse:
    return _page("staff.html")


@router.get(
    "/counter/{site}/{counter}",
    response_class=HTMLResponse,
    tags=["pages"],
    description=(
        "**Role: none** to load; the page uses a **counter** token of that counter (manager or "
        "admin work too). The counter display: no-upsell light, queue, transaction time, state."
    ),
)
def counter_page(site: Identifier, counter: Identifier) -> HTMLResponse:
    return _page("counter.html")


@router.get(
    "/guide/{site}",
    response_class=HTMLResponse,
    tags=["pages"],
    description=(
        "**Role: none** to load; the page uses a **guide** token of the hall (manager or admin "
        "work too). Open care tasks, newest first, one tap to acknowledge."
    ),
)
def guide_page(site: Identifier) -> HTMLResponse:
    return _page("guide.html")


@router.get("/web/static/{name}", tags=["pages"], description="**Role: none.** Page assets.")
def static_file(name: str) -> Response:
    body, media_type = asset(name), content_type(name)
    if body is None or media_type is None:
        raise HTTPException(404, f"no static file {name!r}")
    return Response(body, media_type=media_type, headers=PAGE_HEADERS)


class ZoneOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(description="Zone id.")
    kind: str = Field(description="Zone kind.")
    capacity: int | None = Field(description="People the zone holds comfortably.")
    name: LocalizedOut = Field(description="Name shown to people (the id when none is configured).")


class DeviceOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(description="Device id.")
    kind: str = Field(description="Device kind.")
    self_service: bool = Field(description="A customer kiosk (counts towards the minimum).")
    vendor: str = Field(description="Maintenance vendor id.")
    model: str = Field(description="Hardware model.")
    zone: str | None = Field(description="Zone it stands in.")


class LayoutOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site: str = Field(description="Site id.")
    name: LocalizedOut = Field(description="Hall name.")
    timezone: str = Field(description="IANA time zone of the hall (the wall clock).")
    max_wait_min: float = Field(description="Longest acceptable wait, minutes (the 10-minute line).")
    min_working_kiosks: int = Field(description="Self-service minimum.")
    hall_capacity: int | None = Field(description="People the hall holds comfortably.")
    absent_after_s: float = Field(
        description=(
            "No batch from the hall's gateway for this long marks its data absent: the hall "
            "file's notifications.policy.gateway_silence_s, the limit of the gateway-silence alert."
        )
    )
    zones: list[ZoneOut] = Field(description="Zones, in configuration order.")
    devices: list[DeviceOut] = Field(description="Devices, in configuration order.")


@router.get(
    "/api/v1/web/sites/{site}/layout",
    response_model=LayoutOut,
    response_model_by_alias=True,
    tags=["pages"],
    description=(
        "**Role: admin, manager** (of the site) **or display** (of the site). What the wall "
        "page draws around the live state: names, zones, devices and the floor-rule numbers."
    ),
    responses=ERROR_RESPONSES,
)
def layout(site: str, principal: FloorDep, ctx: CtxDep) -> LayoutOut:
    check_site(ctx, principal, site)
    cfg = ctx.registry.configs.get(site)
    if cfg is None:
        raise HTTPException(404, f"site {site!r} has no hall configuration on this server")
    return LayoutOut.model_validate(hall_layout(cfg))
