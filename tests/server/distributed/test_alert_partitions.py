"""The alert side of a worker (no NATS): a partition's halls snapshotted and restored, taken over
with a replay that sends and stores nothing, reconciled with the alerts SQL has open, dropped;
notifications fenced by the partition's lease, held back in the outbox and sent once by the
partition's holder; the outbox resumed per partition."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from lobbywatch.clock import FixedClock
from lobbywatch.config.site import SiteConfig
from lobbywatch.protocol.messages import DeviceEvent, Envelope
from lobbywatch.protocol.sequence import Stamper
from server.alerts.dispatch import Dispatcher, _Job
from server.alerts.model import AlertUpdate, UpdateEvent
from server.alerts.outbox import MemoryOutbox, Outbox
from server.alerts.partitions import PartitionedAlerts, PartitionEngine
from server.alerts.service import AlertService
from server.alerts.store import MemoryAlertStore
from server.bus import IngestContext
from server.bus_jetstream import partition_of
from tests.server.alerts.helpers_hall import hall

pytestmark = pytest.mark.unit

PARTITIONS = 4
AT = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)  # Monday 09:30 in the hall


class Recording(Dispatcher):
    """A dispatcher that records what it is given instead of sending it; what it resumes from
    the outbox counts as delivered at once."""

    def __init__(self, clock: FixedClock, outbox: Outbox) -> None:
        super().__init__(clock=clock, outbox=outbox)
        self.sent: list[tuple[str, str, UpdateEvent]] = []  # (site, subject, event)
        self.resumed: list[tuple[str, str, str]] = []  # (site, channel, subject)

    def submit(self, site: SiteConfig, updates: Sequence[AlertUpdate]) -> None:
        self.sent += [(site.site, u.alert.subject, u.event) for u in updates if u.notify]

    def _queue(self, job: _Job) -> None:
        self.resumed += [(job.site.site, job.channel.name, u.alert.subject) for u in job.updates]
        self._finish(job.kept, "sent")


class Worker:
    """One worker's alert service on a shared store, holding the partitions in ``held``."""

    def __init__(
        self,
        clock: FixedClock,
        store: MemoryAlertStore,
        configs: dict[str, SiteConfig],
        outbox: Outbox | None = None,
    ) -> None:
        self.held: set[int] = set()
        self.dispatcher = Recording(clock, outbox if outbox is not None else MemoryOutbox())
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


def test_a_notification_held_back_by_the_fence_is_sent_once_the_lease_is_fresh(clock: FixedClock) -> None:
    configs = two_halls()
    zero = next(s for s in configs if partition_of(s, PARTITIONS) == 0)
    store = MemoryAlertStore()
    worker = Worker(clock, store, configs)
    fenced = worker.service.fenced
    assert fenced is not None
    worker.take(0, None)
    # The lease was not renewed in time (NATS electing a leader): the fault is recorded as
    # fired, so nobody raises it again; its notification must not be lost.
    worker.held.discard(0)
    worker.feed([fault(Stamper(zero, "k1", clock=clock), "E1")], zero)
    assert worker.dispatcher.sent == []
    assert [a.subject for a in store.open_alerts(zero)] == ["device:k1:E1"]
    assert fenced.release() == 0  # still not fresh: still held back
    worker.held.add(0)  # renewed
    assert fenced.release() > 0
    assert {s for _, _, s in worker.dispatcher.resumed} == {"device:k1:E1"}
    sent = list(worker.dispatcher.resumed)
    assert fenced.release() == 0
    worker.take(0, worker.hooks.snapshot(0))  # taken again: nothing twice
    assert worker.dispatcher.resumed == sent


def test_a_notification_held_back_by_the_fence_is_sent_by_the_next_holder(clock: FixedClock) -> None:
    configs = two_halls()
    zero = next(s for s in configs if partition_of(s, PARTITIONS) == 0)
    store, outbox = MemoryAlertStore(), MemoryOutbox()
    first, second = Worker(clock, store, configs, outbox), Worker(clock, store, configs, outbox)
    first.take(0, None)
    first.held.discard(0)  # its lease lapsed: the partition goes to the second worker
    batch = [fault(Stamper(zero, "k1", clock=clock), "E1")]
    first.feed(batch, zero)
    snapshot = first.hooks.snapshot(0)
    first.hooks.drop(0)
    second.take(0, snapshot)
    assert {s for _, _, s in second.dispatcher.resumed} == {"device:k1:E1"}
    assert second.dispatcher.sent == []
    assert outbox.pending() == []
    first.take(0, None)  # and back again: nothing twice
    assert first.dispatcher.resumed == []
    assert first.service.fenced is not None
    assert first.service.fenced.release() == 0


def test_the_outbox_resumes_only_the_partitions_taken(clock: FixedClock) -> None:
    configs = two_halls()
    zero, one = (next(s for s in configs if partition_of(s, PARTITIONS) == p) for p in (0, 1))
    outbox = MemoryOutbox()
    for site in (zero, one):
        outbox.queue(site, "floor", [], AT)
    worker = Worker(clock, MemoryAlertStore(), configs, outbox)
    worker.service.start()  # a worker that holds nothing resumes nothing at start
    worker.service.stop()
    assert worker.dispatcher.resumed == []
    worker.take(0, None)
    assert [q.site for q in outbox.pending()] == [one]
