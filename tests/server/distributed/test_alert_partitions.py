"""The alert side of a worker (no NATS): a partition's halls snapshotted and restored, taken over
with a replay that sends and stores nothing, reconciled with the alerts SQL has open, dropped;
notifications fenced by the partition's lease; the outbox resumed per partition."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from lobbywatch.clock import FixedClock
from lobbywatch.config.site import SiteConfig
from lobbywatch.protocol.messages import DeviceEvent, Envelope
from lobbywatch.protocol.sequence import Stamper
from server.alerts.dispatch import Dispatcher
from server.alerts.model import AlertUpdate, UpdateEvent
from server.alerts.outbox import MemoryOutbox
from server.alerts.partitions import PartitionedAlerts, PartitionEngine, SiteOutbox
from server.alerts.service import AlertService
from server.alerts.store import MemoryAlertStore
from server.bus import IngestContext
from server.bus_jetstream import partition_of
from tests.server.alerts.helpers_hall import hall

pytestmark = pytest.mark.unit

PARTITIONS = 4
AT = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)  # Monday 09:30 in the hall


class Recording(Dispatcher):
    """A dispatcher that records what it is given instead of sending it."""

    def __init__(self, clock: FixedClock, outbox: SiteOutbox) -> None:
        super().__init__(clock=clock, outbox=outbox)
        self.sent: list[tuple[str, str, UpdateEvent]] = []  # (site, subject, event)

    def submit(self, site: SiteConfig, updates: Sequence[AlertUpdate]) -> None:
        self.sent += [(site.site, u.alert.subject, u.event) for u in updates if u.notify]


class Worker:
    """One worker's alert service on a shared store, holding the partitions in ``held``."""

    def __init__(self, clock: FixedClock, store: MemoryAlertStore, configs: dict[str, SiteConfig]) -> None:
        self.held: set[int] = set()
        self.outbox = SiteOutbox(MemoryOutbox(), only=set())
        self.dispatcher = Recording(clock, self.outbox)
        self.service = AlertService(
            [],
            clock=clock,
            store=store,
            dispatcher=self.dispatcher,
            engine_type=PartitionEngine,
            fence=lambda site: partition_of(site, PARTITIONS) in self.held,
        )
        engine = self.service.engine
        assert isinstance(engine, PartitionEngine)
        self.engine = engine
        self.hooks = PartitionedAlerts(
            engine,
            store,
            self.dispatcher,
            self.outbox,
            configs,
            PARTITIONS,
            lambda: PartitionEngine([], clock=clock),
        )

    def take(
        self, p: int, snapshot: bytes | None, replay: Sequence[tuple[list[Envelope], IngestContext]] = ()
    ) -> None:
        self.held.add(p)
        self.hooks.take(p, snapshot, replay)

    def feed(self, messages: list[Envelope], site: str) -> None:
        self.service.on_batch(messages, IngestContext(site, "gw", AT))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(AT)


def two_halls() -> dict[str, SiteConfig]:
    sites: dict[int, str] = {}
    for i in range(100):
        sites.setdefault(partition_of(f"hall-{i}", PARTITIONS), f"hall-{i}")
    return {s: hall(s) for s in (sites[0], sites[1])}


def fault(stamper: Stamper, code: str) -> Envelope:
    return stamper.make(DeviceEvent, event="fault_raised", code=code, unusable=True)


def test_takeover_from_a_snapshot_and_replay_fires_nothing_twice(clock: FixedClock) -> None:
    configs = two_halls()
    site = next(s for s in configs if partition_of(s, PARTITIONS) == 0)
    store = MemoryAlertStore()
    first, second = Worker(clock, store, configs), Worker(clock, store, configs)
    first.take(0, None)
    kiosk = Stamper(site, "k1", clock=clock)
    first.feed([fault(kiosk, "E1")], site)
    assert first.dispatcher.sent == [(site, "device:k1:E1", UpdateEvent.FIRED)]
    snapshot = first.hooks.snapshot(0)
    assert snapshot is not None
    # After the snapshot the first worker handled one more batch (a new fault), then died.
    later = [fault(kiosk, "E2")]
    first.feed(later, site)
    assert [s for _, s, _ in first.dispatcher.sent] == ["device:k1:E1", "device:k1:E2"]

    clock.advance(5)
    second.take(0, snapshot, [(later, IngestContext(site, "gw", AT))])
    assert second.dispatcher.sent == []  # the replay sends nothing
    assert len(store.open_alerts(site)) == 2  # and stores nothing again
    opened = {a.subject: a.id for a in second.engine.open_alerts(site)}
    assert opened == {a.subject: a.id for a in store.open_alerts(site)}  # SQL's alerts, same ids
    # The same faults again (a resend), then a new one: only the new one fires.
    second.feed([fault(kiosk, "E1"), fault(kiosk, "E2"), fault(kiosk, "E3")], site)
    second.service.engine.tick()
    assert second.dispatcher.sent == [(site, "device:k1:E3", UpdateEvent.FIRED)]


def test_without_a_snapshot_the_halls_start_from_sql(clock: FixedClock) -> None:
    configs = two_halls()
    site = next(s for s in configs if partition_of(s, PARTITIONS) == 1)
    store = MemoryAlertStore()
    first, second = Worker(clock, store, configs), Worker(clock, store, configs)
    first.take(1, None)
    first.feed([fault(Stamper(site, "k1", clock=clock), "E1")], site)
    second.take(1, None)
    assert [a.subject for a in second.engine.open_alerts(site)] == ["device:k1:E1"]


def test_a_dropped_partition_is_neither_evaluated_nor_sent(clock: FixedClock) -> None:
    configs = two_halls()
    zero, one = (next(s for s in configs if partition_of(s, PARTITIONS) == p) for p in (0, 1))
    worker = Worker(clock, MemoryAlertStore(), configs)
    worker.take(0, None)
    worker.take(1, None)
    worker.hooks.drop(1)
    worker.held.discard(1)
    worker.feed([fault(Stamper(one, "k1", clock=clock), "E1")], one)
    assert worker.engine.open_alerts() == []
    # The lease of partition 0 lapsed before the hooks heard of it: nothing goes out for it.
    worker.held.discard(0)
    worker.feed([fault(Stamper(zero, "k1", clock=clock), "E1")], zero)
    assert worker.dispatcher.sent == []


def test_the_outbox_resumes_only_the_partitions_taken(clock: FixedClock) -> None:
    configs = two_halls()
    zero, one = (next(s for s in configs if partition_of(s, PARTITIONS) == p) for p in (0, 1))
    inner = MemoryOutbox()
    for site in (zero, one):
        inner.queue(site, "floor", [], AT)
    outbox = SiteOutbox(inner, only=set())
    assert outbox.pending() == []  # a worker that holds nothing resumes nothing at start
    outbox.only = {zero}
    assert [q.site for q in outbox.pending()] == [zero]
