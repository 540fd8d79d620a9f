"""The counter display's API: what one counter's screen shows, live, and its state buttons.

* ``GET /api/v1/sites/{site}/counters/{counter}/display``: the no-upsell light (an open
  ``no_upsell`` alert on the counter's queue, from the alert engine), the queue length, the
  current transaction's time against its limit (the counter's ticket and its business type's
  limit where a ticket system reports one, else the counter zone's longest dwell against
  ``transaction_min``), and the counter's state (from the live state: derived from tickets,
  the counter zone and the terminal by :mod:`server.counter_states`).
* ``GET .../display/stream``: a ``counter`` event with the same body at once and after every
  change of the hall's live state or alerts.
* ``POST .../state`` ``{"state": "serving" | "standby" | "learning" | "away"}``: queued for
  the hall (a retained ``counter_state_set`` on ``lobbywatch/v1/{site}/downlink/counter/{counter}``
  through the hall's gateway, for the counter's terminal and the ticket system:
  :meth:`server.downlink.DownlinkQueue.counter_state`), then applied to this process's live
  state as a ``counter_state`` report of source ``counter-display`` (like a counter
  terminal's; it does not reach the time series) and handed to the message bus as a batch of
  its own (``IngestContext.by_hand``): on the JetStream bus it is stored on the hall's
  partition, in order with the hall's batches, and the worker holding the hall and every API
  replica apply it to their hall state (docs/distributed.md, "Roles"); the single box's bus
  has nothing more to apply. 503, and nothing changed, when the queue cannot take it; a bus
  that cannot store it is logged (the hall has it: its terminal reports it back).

Roles: a **counter** token of that counter, or a manager (of the hall) or admin. The page is
``/counter/{site}/{counter}`` (:mod:`server.api.routes.pages`). See docs/pages.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from lobbywatch.config.business import business_limit_min
from lobbywatch.config.site import CounterConfig, SiteConfig
from lobbywatch.protocol.enums import CounterStatus
from lobbywatch.protocol.messages import CounterState
from lobbywatch.protocol.sequence import Stamper
from server.alerts.model import AlertKind
from server.alerts.rules.zones import zone_name
from server.api.deps import CtxDep, get_stream_principal, require, token_check
from server.api.errors import ERROR_RESPONSES, ErrorBody
from server.api.localized import LocalizedOut
from server.api.sse import snapshot_stream
from server.bus import BusUnavailable, IngestContext
from server.context import ServerContext
from server.core.config import Role
from server.core.security import Principal
from server.downlink import DownlinkUnavailable

log = logging.getLogger(__name__)
router = APIRouter(tags=["floor"])
COUNTER_ROLES: tuple[Role, ...] = ("admin", "manager", "counter")
#: The source of counter states set on the counter display (the hall state keeps the latest).
PAGE_SOURCE = "counter-display"


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TransactionOut(_Out):
    elapsed_s: float = Field(description="How long the customer at the counter has been served, s.")
    limit_s: float = Field(
        description="The limit, s: the ticket's business type's, else thresholds.transaction_min."
    )
    business: str | None = Field(
        default=None, description="The ticket's business type; null: no ticket system."
    )


class CounterDisplay(_Out):
    """What the counter's screen shows."""

    site: str
    counter: str
    name: LocalizedOut = Field(description="The counter's zone name.")
    timezone: str = Field(description="IANA time zone of the hall (for the times shown).")
    state: Literal["serving", "standby", "learning", "away"] | None = Field(
        description="The counter's state in the live state; null: never reported."
    )
    state_since: datetime | None = Field(description="When that state began.")
    queue: str | None = Field(description="The queue zone feeding this counter.")
    queue_length: int | None = Field(description="People in that line now; null: no reading.")
    no_upsell: bool = Field(description="Stop upselling: the line is long (an open no_upsell alert).")
    no_upsell_at: int = Field(description="Line length at which the light goes on (queue_no_upsell).")
    transaction: TransactionOut | None = Field(description="The current transaction; null: none seen.")
    data: Literal["live", "delayed", "absent"] = Field(description="The hall's data state.")
    as_of: datetime = Field(description="Server time of this view.")


class StateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: CounterStatus = Field(description="serving, standby, learning or away.")


def _counter(
    ctx: ServerContext, principal: Principal, site: str, counter: str
) -> tuple[SiteConfig, CounterConfig]:
    """The hall and counter configuration; 404 when unknown or not the token's counter."""
    cfg = ctx.registry.configs.get(site)
    found = None if cfg is None else next((c for c in cfg.counters if c.id == counter), None)
    if cfg is None or found is None or not principal.can_see_counter(site, counter):
        raise HTTPException(404, f"unknown counter {counter!r} of site {site!r}")
    return cfg, found


def display(ctx: ServerContext, cfg: SiteConfig, counter: CounterConfig) -> CounterDisplay:
    """The counter's view now, read from the live state and the alert engine."""
    live = ctx.live.snapshot(cfg.site)
    state = next((c for c in live.counters if c.counter == counter.id), None)
    zones = {z.zone: z for z in live.zones}
    queue = zones.get(counter.queue) if counter.queue is not None else None
    desk = zones.get(counter.zone)
    no_upsell = False
    if ctx.alerts is not None and counter.queue is not None:
        no_upsell = any(
            a.kind == AlertKind.NO_UPSELL and a.zone == counter.queue
            for a in ctx.alerts.engine.open_alerts(cfg.site)
        )
    transaction = _transaction(ctx, cfg, counter, desk.longest_wait_s if desk is not None else None)
    name = zone_name(cfg, counter.zone)
    return CounterDisplay(
        site=cfg.site,
        counter=counter.id,
        name=LocalizedOut(en=name["en"], zh_cn=name["zh-CN"]),
        timezone=cfg.timezone,
        state=None if state is None else CounterStatus(state.state).value,
        state_since=None if state is None else state.since,
        queue=counter.queue,
        queue_length=None if queue is None else queue.queue_length,
        no_upsell=no_upsell,
        no_upsell_at=cfg.thresholds.queue_no_upsell,
        transaction=transaction,
        data=live.data,
        as_of=live.as_of,
    )


def _transaction(
    ctx: ServerContext, cfg: SiteConfig, counter: CounterConfig, desk_dwell_s: float | None
) -> TransactionOut | None:
    """The current transaction: the counter's ticket (its time since service began, against
    its business type's limit) where a ticket system reports one, else the longest dwell in
    the counter zone against ``transaction_min``."""
    ticket = ctx.live.hall.tickets(cfg.site).current(counter.id)
    since = None if ticket is None else ticket.service_since
    if ticket is not None and since is not None:
        limit_min = business_limit_min(cfg.business, cfg.thresholds, ticket.business)
        elapsed = max(0.0, (ctx.clock.now() - since).total_seconds())
        return TransactionOut(elapsed_s=elapsed, limit_s=limit_min * 60, business=ticket.business)
    if desk_dwell_s is None:
        return None
    return TransactionOut(elapsed_s=desk_dwell_s, limit_s=cfg.thresholds.transaction_min * 60)


CounterDep = Annotated[Principal, Depends(require(*COUNTER_ROLES))]


async def _counter_stream(principal: Annotated[Principal, Depends(get_stream_principal)]) -> Principal:
    return await require(*COUNTER_ROLES)(principal)


CounterStreamDep = Annotated[Principal, Depends(_counter_stream)]
PATH = "/api/v1/sites/{site}/counters/{counter}"


@router.get(
    PATH + "/display",
    response_model=CounterDisplay,
    response_model_by_alias=True,
    description=(
        "**Role: counter** (that counter), **manager** (of the hall) **or admin.** The counter "
        "display's view."
    ),
    responses=ERROR_RESPONSES,
)
def get_display(site: str, counter: str, principal: CounterDep, ctx: CtxDep) -> CounterDisplay:
    return display(ctx, *_counter(ctx, principal, site, counter))


@router.get(
    PATH + "/display/stream",
    include_in_schema=False,  # endless: kept out of the OpenAPI document (docs/pages.md)
    description="**Role: counter, manager or admin.** A `counter` event at once and after every change.",
)
async def display_stream(
    site: str, counter: str, principal: CounterStreamDep, ctx: CtxDep
) -> StreamingResponse:
    cfg, found = _counter(ctx, principal, site, counter)

    async def snapshot() -> str:
        view = await run_in_threadpool(display, ctx, cfg, found)
        return view.model_dump_json(by_alias=True)

    return snapshot_stream(
        lambda changed: listen_floor(ctx, changed),
        lambda changed: changed == site,
        snapshot,
        "counter",
        token_alive=token_check(ctx, principal),
        clock=ctx.clock,
    )


def listen_floor(ctx: ServerContext, changed: Callable[[str], None]) -> Callable[[], None]:
    """Call ``changed(site)`` on every change of the live state or of the alerts; returns
    "stop listening"."""
    stops = [ctx.live.listen(changed)]
    if (alerts := ctx.alerts_api()) is not None:
        stops.append(alerts.engine.add_listener(lambda update: changed(update.alert.site)))

    def stop() -> None:
        for s in stops:
            s()

    return stop


@router.post(
    PATH + "/state",
    response_model=CounterDisplay,
    response_model_by_alias=True,
    description=(
        "**Role: counter** (that counter), **manager** (of the hall) **or admin.** Set the "
        "counter's state: it goes down to the hall (`counter_state_set`, retained, for the "
        "counter's terminal and the ticket system) and the hall state takes it like a counter "
        "terminal's report. 503 when the hall's downlink queue cannot take it (nothing changed)."
    ),
    responses={**ERROR_RESPONSES, 503: {"model": ErrorBody}},
)
def set_state(site: str, counter: str, body: StateIn, principal: CounterDep, ctx: CtxDep) -> CounterDisplay:
    cfg, found = _counter(ctx, principal, site, counter)
    now = ctx.clock.now()
    try:
        ctx.downlink.counter_state(site, counter, body.state, now)
    except DownlinkUnavailable as exc:
        raise HTTPException(503, f"the state could not be sent to the hall: {exc}") from None
    stamper = Stamper(site, PAGE_SOURCE, clock=ctx.clock, epoch=int(now.timestamp() * 1000))
    message = stamper.make(CounterState, counter=counter, state=body.state, since=now)
    by_hand = IngestContext(site, "", now, by_hand=True)
    with ctx.pipeline.lock:  # in order with ingest's batches, on the bus and as their listeners see them
        ctx.live.hall.apply(message)
        ctx.live.notify(site)
        try:
            ctx.bus.store([message], by_hand)
        except BusUnavailable as exc:  # the hall has it: the worker learns it from the terminal's report
            log.warning("counter %s/%s: the state %s is not on the bus: %s", site, counter, body.state, exc)
        else:
            ctx.bus.publish([message], by_hand)
    return display(ctx, cfg, found)
