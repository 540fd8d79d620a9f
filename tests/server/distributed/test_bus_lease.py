"""One consuming alert engine across server processes: two JetStream buses on one stream,
only the lease holder's subscribers get batches; the other takes over when the holder stops
(lease released) or dies (lease expired)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import nats
from nats.js.api import KeyValueConfig

from lobbywatch.clock import FixedClock
from lobbywatch.protocol.messages import DeviceEvent, Envelope
from lobbywatch.protocol.sequence import Stamper
from lobbywatch.services import NatsServer, wait_until
from server.bus import IngestContext
from server.bus_jetstream import JetStreamBus
from server.core.config import BusConfig

from .test_bus_jetstream import jetstream_cfg

CTX = IngestContext("hall-1", "gw-1", datetime(2026, 11, 23, 1, 30, tzinfo=UTC))


class Recorder:
    def __init__(self) -> None:
        self.ids: list[str] = []

    def __call__(self, messages: Sequence[Envelope], _ctx: IngestContext) -> None:
        self.ids += [m.id for m in messages]


def started(cfg: BusConfig) -> tuple[JetStreamBus, Recorder]:
    bus = JetStreamBus(cfg)
    seen = Recorder()
    bus.subscribe(seen)
    bus.start()
    return bus, seen


def test_only_the_lease_holder_consumes_and_the_other_takes_over(
    nats_server: NatsServer, clock: FixedClock
) -> None:
    cfg = jetstream_cfg([nats_server.url], lease_ttl_s=1)
    stamper = Stamper("hall-1", "kiosk-1", clock=clock)

    def fault() -> Envelope:
        return stamper.make(DeviceEvent, event="fault_raised", code="PRN_OUT", unusable=True)

    a, seen_a = started(cfg)
    try:
        assert wait_until(lambda: a.leader, 10)
        b, seen_b = started(cfg)
        try:
            first = [fault(), fault()]
            b.store(first, CTX)  # any process stores; the holder's engine gets it
            assert wait_until(lambda: seen_a.ids == [m.id for m in first], 10)
            assert not b.leader
            a.stop()  # releases the lease
            assert wait_until(lambda: b.leader, 10)
            second = [fault()]
            b.store(second, CTX)
            assert wait_until(lambda: seen_b.ids == [m.id for m in second], 10)
            assert seen_a.ids == [m.id for m in first]
        finally:
            b.stop()
    finally:
        a.stop()


def test_a_dead_holders_lease_expires(nats_server: NatsServer) -> None:
    cfg = jetstream_cfg([nats_server.url], lease_ttl_s=1)

    async def dead_holder() -> None:  # took the lease, then stopped renewing it
        nc = await nats.connect(nats_server.url)
        try:
            js = nc.jetstream()
            kv = await js.create_key_value(KeyValueConfig(bucket=f"{cfg.stream}_LEASES", ttl=1))
            await kv.create(cfg.consumer, b"dead-process")
        finally:
            await nc.close()

    asyncio.run(dead_holder())
    bus, _seen = started(cfg)
    try:
        assert not bus.leader
        assert wait_until(lambda: bus.leader, 10)  # after the dead holder's TTL
    finally:
        bus.stop()
