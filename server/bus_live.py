"""The API role's live state on the JetStream bus: every site, in every API replica.

Each API process reads the whole stream through an ordered consumer of its own (ephemeral,
push, flow-controlled; nothing to acknowledge), starting ``LIVE_REPLAY_S`` back so that a
replica started late still knows every hall's zones, counters, tickets and gateways, and
applies each batch to its own :class:`~server.hall_state.HallState`, the one its
:class:`~server.live.LiveState` (the wall page, ``GET .../live``, the live streams) reads;
devices start from SQL (open episodes and faults) as on the single box. Why not a KV bucket
of live views written by the workers: the views are derived from the hall state (offline
after a silent heartbeat, "delayed" data...) at read time, and a bucket would need one writer
per site and a write per batch; the stream already holds the facts, in order, and an ordered
consumer is how NATS means a process to follow a stream. docs/distributed.md, "Roles".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta

import nats.errors
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from lobbywatch.clock import Clock
from lobbywatch.protocol.messages import DeviceEvent, DeviceHeartbeat, DeviceStatus, Envelope
from server.bus import IngestContext
from server.bus_jetstream import RecentKeys, decode_batch
from server.bus_nats import NatsLink
from server.hall_state import HallState
from server.live import LiveState
from server.registry import SiteRegistry

log = logging.getLogger(__name__)

LIVE_REPLAY_S = 600.0  # how far back a starting API replica reads the stream


def apply_batch(
    hall: HallState, registry: SiteRegistry, messages: Sequence[Envelope], ctx: IngestContext
) -> None:
    """One stored batch onto ``hall`` as ingest applies it on the single box: the gateway was
    heard, then each message (a device first seen gets its stored vendor and kind)."""
    if ctx.backlog is not None and ctx.sent_at is not None:
        hall.gateway_batch(ctx.site, ctx.gateway, ctx.backlog, ctx.sent_at, ctx.received_at)
    for m in messages:
        if (
            isinstance(m, (DeviceStatus, DeviceHeartbeat, DeviceEvent))
            and m.source not in hall.hall(m.site).devices
        ):
            vendor, kind = registry.identity(m)
            hall.device(m.site, m.source, vendor, kind)
        hall.apply(m)
    for source, stamped, reason in ctx.clock_rejections:  # after: a clock wrong in this batch stays wrong
        hall.clock_rejected(ctx.site, source, stamped, reason)


class LiveFeed:
    """Follows the stream into this process's live state, and tells its listeners."""

    def __init__(self, link: NatsLink, live: LiveState, registry: SiteRegistry, clock: Clock) -> None:
        self.link = link
        self.live = live
        self.registry = registry
        self.clock = clock
        self.batches = 0  # stored batches applied
        self.errors = 0
        self._recent = RecentKeys()
        self._sub: object | None = None

    def start(self) -> None:
        self.link.run(self._subscribe(), self.link.cfg.publish_timeout_s + 30)

    async def _subscribe(self) -> None:
        """The ordered consumer; a request not answered in time (a cluster that just started
        or elects a leader) is asked again for up to ``publish_timeout_s + 25`` seconds."""
        cfg = self.link.cfg
        loop = asyncio.get_running_loop()
        deadline = loop.time() + cfg.publish_timeout_s + 25
        while True:
            try:
                self._sub = await self.link.js.subscribe(
                    f"{cfg.subject_prefix}.batch.>",
                    stream=cfg.stream,
                    ordered_consumer=True,
                    config=ConsumerConfig(
                        deliver_policy=DeliverPolicy.BY_START_TIME,
                        opt_start_time=self.clock.now() - timedelta(seconds=LIVE_REPLAY_S),
                    ),
                    cb=self._on_batch,
                )
                return
            except nats.errors.TimeoutError:
                if loop.time() >= deadline:
                    raise
                log.info("live feed: the stream's consumer was not created in time; asking again")

    async def _on_batch(self, msg: Msg) -> None:
        try:
            messages, ctx = decode_batch(msg, self._recent)
            apply_batch(self.live.hall, self.registry, messages, ctx)
        except Exception:
            self.errors += 1
            log.exception("live feed: could not apply a stored batch (%s)", msg.subject)
            return
        self.batches += 1
        self.live.notify(ctx.site)

    def stop(self) -> None:
        """Nothing to do: the ordered consumer ends with the link's connection."""
