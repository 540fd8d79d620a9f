"""Partitions shared out between worker processes: two JetStream buses on one stream split the
partitions fairly, each subscriber gets only its partitions' batches, a worker that stops gives
its partitions back (with a snapshot, handed to the next owner) and a dead one's lease expires
and is taken."""

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
from server.bus_jetstream import JetStreamBus, partition_of
from server.bus_partitions import Batch
from server.core.config import BusConfig

from .test_bus_jetstream import jetstream_cfg

AT = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)


class Recorder:
    """A subscriber and partition hooks: what it got, took (with snapshot and replay), dropped."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.taken: list[tuple[int, bytes | None, int]] = []
        self.dropped: list[int] = []

    def __call__(self, messages: Sequence[Envelope], _ctx: IngestContext) -> None:
        self.ids += [m.id for m in messages]

    def take(self, partition: int, snapshot: bytes | None, replay: Sequence[Batch]) -> None:
        self.taken.append((partition, snapshot, sum(len(m) for m, _ in replay)))

    def snapshot(self, partition: int) -> bytes | None:
        return f"state of {partition}".encode()

    def drop(self, partition: int) -> None:
        self.dropped.append(partition)


def started(cfg: BusConfig) -> tuple[JetStreamBus, Recorder]:
    bus = JetStreamBus(cfg)
    seen = Recorder()
    bus.subscribe(seen)
    bus.serve(seen)
    bus.start()
    return bus, seen


def site_in(partition: int, partitions: int) -> str:
    return next(s for i in range(1000) if partition_of(s := f"hall-{i}", partitions) == partition)


def test_two_workers_split_the_partitions_and_one_takes_over(
    nats_server: NatsServer, clock: FixedClock
) -> None:
    cfg = jetstream_cfg([nats_server.url], lease_ttl_s=1, partitions=4)
    a, seen_a = started(cfg)
    try:
        assert wait_until(lambda: len(a.held()) == 4, 10)
        b, seen_b = started(cfg)
        try:
            assert wait_until(lambda: len(a.held()) == len(b.held()) == 2, 15), (a.held(), b.held())
            assert not set(a.held()) & set(b.held())
            sent: dict[int, list[str]] = {}
            for p in range(4):
                site = site_in(p, 4)
                stamper = Stamper(site, "kiosk-1", clock=clock)
                batch = [stamper.make(DeviceEvent, event="fault_raised", code="PRN", unusable=True)]
                b.store(batch, IngestContext(site, "gw-1", AT))  # any process stores
                sent[p] = [m.id for m in batch]
            mine_a = [i for p in a.held() for i in sent[p]]
            mine_b = [i for p in b.held() for i in sent[p]]
            assert wait_until(lambda: sorted(seen_a.ids) == sorted(mine_a), 10)
            assert wait_until(lambda: sorted(seen_b.ids) == sorted(mine_b), 10)
            given, before = a.held(), len(seen_a.dropped)  # it gave 2 back already, to b
            a.stop()  # gives its partitions back, each with its snapshot
            assert sorted(seen_a.dropped[before:]) == given
            assert wait_until(lambda: len(b.held()) == 4, 15)
            snapshots = {p: snap for p, snap, _ in seen_b.taken if p in given}
            assert snapshots == {p: f"state of {p}".encode() for p in given}
        finally:
            b.stop()
    finally:
        a.stop()


def test_a_dead_workers_lease_expires(nats_server: NatsServer) -> None:
    cfg = jetstream_cfg([nats_server.url], lease_ttl_s=1, partitions=2)

    async def dead_holder() -> None:  # took partition 0, then stopped renewing it
        nc = await nats.connect(nats_server.url)
        try:
            js = nc.jetstream()
            kv = await js.create_key_value(KeyValueConfig(bucket=f"{cfg.stream}_LEASES", ttl=1))
            await kv.create(f"{cfg.consumer}.0", b"dead-process")
        finally:
            await nc.close()

    asyncio.run(dead_holder())
    bus, _seen = started(cfg)
    try:
        assert wait_until(lambda: bus.held() == [1], 10)
        assert wait_until(lambda: bus.held() == [0, 1], 10)  # after the dead holder's TTL
    finally:
        bus.stop()
