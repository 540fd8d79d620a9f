"""Serves the wall, staff, counter and guide pages, their static files, and the hall layout
the wall draws.

* ``GET /wall/{site}``, ``GET /staff``, ``GET /counter/{site}/{counter}`` and
  ``GET /guide/{site}``: the pages (no token: the page asks for one and keeps it in the
  browser's localStorage; ``#token=`` or ``?token=`` hands it over once).
* ``GET /web/static/{name}``: the page assets, package data of :mod:`server.web`
  (``server/web/static/``).
* Every page and asset carries :data:`PAGE_HEADERS` (CSP, frame-ancestors, nosniff,
  referrer policy); the wall's CSP also lets it reach a hall broker (:data:`WALL_HEADERS`).
* ``GET /api/v1/web/sites/{site}/layout``: names, zones, devices and thresholds of a hall
  (the live state carries ids only).

The alerts the staff page shows come from :mod:`server.api.routes.alerts`; the counter and
guide pages read :mod:`server.api.routes.counter` and :mod:`server.api.routes.guide`. See
docs/pages.md.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from lobbywatch.protocol.fields import Identifier
from server.api.deps import CtxDep, FloorDep, check_site
from server.api.errors import ERROR_RESPONSES
from server.api.localized import LocalizedOut

router = APIRouter()
ASSET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\.[a-z0-9]+$")

STATIC_TYPES: dict[str, str] = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
}
#: Headers of every page and asset. The pages load only their own scripts and styles (no
#: inline code; JS setting ``element.style`` is not inline style) and talk only to this
#: server. Wall displays run full-screen in a browser of their own, never inside another
#: site's frame: ``frame-ancestors 'none'`` (and ``X-Frame-Options: DENY`` for old browsers)
#: stops click-jacking the staff page's acknowledge button. See docs/pages.md.
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
#: The wall may also open a WebSocket to the hall broker it is given (``?hall=ws://...``, the
#: in-hall mode, docs/pages.md); the other pages talk only to this server.
WALL_HEADERS = {
    **PAGE_HEADERS,
    "Content-Security-Policy": PAGE_HEADERS["Content-Security-Policy"].replace(
        "connect-src 'self'", "connect-src 'self' ws: wss:"
    ),
}


@lru_cache(maxsize=64)
def _asset(name: str) -> bytes | None:
    """The bytes of ``static/<name>``, or None when there is no such file."""
    if not ASSET_NAME.match(name):
        return None
    node = resources.files("server.web").joinpath("static", name)
    return node.read_bytes() if node.is_file() else None


def _page(name: str, headers: dict[str, str] = PAGE_HEADERS) -> HTMLResponse:
    body = _asset(name)
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
    body = _asset(name)
    suffix = name[name.rfind(".") :] if "." in name else ""
    if body is None or suffix not in STATIC_TYPES:
        raise HTTPException(404, f"no static file {name!r}")
    return Response(body, media_type=STATIC_TYPES[suffix], headers=PAGE_HEADERS)


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
    absent_after_s: float = Field(description="No batch for this long marks the hall's data absent.")
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
    from lobbywatch.protocol.enums import DeviceKind

    def name(value: object, fallback: str) -> LocalizedOut:
        en = getattr(value, "en", None) or fallback
        zh = getattr(value, "zh_cn", None) or fallback
        return LocalizedOut(en=en, zh_cn=zh)

    return LayoutOut(
        site=cfg.site,
        name=name(cfg.name, cfg.site),
        timezone=cfg.timezone,
        max_wait_min=cfg.thresholds.max_wait_min,
        min_working_kiosks=cfg.thresholds.min_working_kiosks,
        hall_capacity=cfg.thresholds.hall_capacity,
        absent_after_s=ctx.settings.ingest.absent_after_s,
        zones=[
            ZoneOut(id=z.id, kind=z.kind.value, capacity=z.capacity, name=name(z.name, z.id))
            for z in cfg.zones
        ],
        devices=[
            DeviceOut(
                id=d.id,
                kind=d.kind.value,
                self_service=DeviceKind(d.kind).is_self_service,
                vendor=d.vendor,
                model=d.model,
                zone=d.zone,
            )
            for d in cfg.devices
        ],
    )
