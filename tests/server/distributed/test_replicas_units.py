"""Units of the roles on the JetStream bus: what a writer writes of a stored batch, and what an
API replica's live state makes of it (its messages, its gateway, the messages ingest rejected
for their time), are what the single box derives at ingest; a counter state set by hand goes
onto a worker's and an API replica's hall states and nowhere else."""

from __future__ import annotations

from pathlib import Path

from nats.aio.msg import Msg

from lobbywatch.clock import FixedClock
from lobbywatch.protocol.enums import CounterStatus, ZoneKind
from lobbywatch.protocol.ingest import Backlog, IngestBatch
from lobbywatch.protocol.messages import CounterState, DeviceEvent, Envelope, ZoneState
from lobbywatch.protocol.sequence import Stamper
from server.alerts.partitions import PartitionEngine
from server.alerts.service import AlertService
from server.alerts.store import MemoryAlertStore
from server.bus import IngestContext
from server.bus_jetstream import RecentKeys, batch_messages, decode_batch
from server.bus_live import apply_batch
from server.bus_writers import batch_lines
from server.core.config import BusConfig
from server.hall_state import HallState
from server.registry import SiteRegistry
from server.timeseries.lines import gateway_line, message_lines

SITE = "hall-1"


def stored(clock: FixedClock, messages: list[Envelope]) -> tuple[Msg, IngestContext]:
    backlog = Backlog(count=3, bytes=900, oldest_age_s=1.5, shed=2)
    wrong = ("kiosk-2", clock.now().replace(year=2020), "clock: too old")  # rejected for its time
    ctx = IngestContext(SITE, "gw-1", clock.now(), backlog, clock.now(), (wrong,))
    [(subject, payload, headers)] = batch_messages(BusConfig(kind="jetstream"), messages, ctx, 1 << 20)
    return Msg(_client=None, subject=subject, data=payload, headers=headers), ctx  # type: ignore[arg-type]


def batch(clock: FixedClock) -> list[Envelope]:
    cam, kiosk = Stamper(SITE, "cam-1", clock=clock), Stamper(SITE, "kiosk-1", clock=clock)
    zone = cam.make(
        ZoneState,
        zone="queue",
        kind=ZoneKind.QUEUE,
        occupancy=2.0,
        count=2,
        queue_length=2,
        entered_total=2,
        exited_total=0,
    )
    fault = kiosk.make(DeviceEvent, event="fault_raised", code="PRN_PAPER_OUT", unusable=True)
    return [zone, fault]


def test_a_writer_writes_the_gateway_point_and_each_messages_own(clock: FixedClock) -> None:
    messages = batch(clock)
    msg, ctx = stored(clock, messages)
    assert ctx.backlog is not None
    assert ctx.sent_at is not None
    header = IngestBatch(gateway="gw-1", site=SITE, sent_at=ctx.sent_at, backlog=ctx.backlog, messages=[])
    expected = [gateway_line(header)] + [
        line for m in messages for line in message_lines(m, wait_limit_s=60.0)
    ]
    assert batch_lines(msg, lambda site: 60.0) == expected


def test_an_api_replica_applies_a_stored_batch_as_ingest_does(clock: FixedClock) -> None:
    messages = batch(clock)
    msg, ctx = stored(clock, messages)
    registry = SiteRegistry(devices={(SITE, "kiosk-1"): ("acme", "kiosk")})
    live = HallState(clock)
    clock.advance(5)  # applied later than ingest took it: the gateway was heard then, not now
    apply_batch(live, registry, messages, ctx)
    hall = live.hall(SITE)
    assert hall.zones["queue"].occupancy == 2.0
    assert hall.last_batch == ctx.received_at
    kiosk = hall.devices["kiosk-1"]
    assert (kiosk.vendor, kiosk.kind) == ("acme", "kiosk")
    assert set(kiosk.faults) == {"PRN_PAPER_OUT"}
    assert msg.subject.endswith(f".{SITE}")
    assert live.clock_problem(SITE, "kiosk-2") is not None  # the clock rejection travelled too
    assert live.clock_problem(SITE, "kiosk-1") is None


def test_a_worker_taking_a_partition_over_continues_the_streams_its_last_holder_stored(
    clock: FixedClock, tmp_path: Path
) -> None:
    """Both workers loaded the sequence streams at start, before the first stored any: the
    second, holding the partition next, finds the first's rows instead of inserting them again
    (the batch's derived SQL used to roll back on the duplicate key)."""
    from sqlalchemy import select

    from server.context import ServerContext
    from server.core.config import ServerSettings
    from server.roles import ServerRole
    from server.storage.db import run_migrations
    from server.storage.models import SeqStream

    settings = ServerSettings(
        sql_url=f"sqlite:///{tmp_path / 'lw.sqlite3'}",
        bus=BusConfig(kind="jetstream"),
        roles=[ServerRole.WORKER],
    )
    first, second = (ServerContext.build(settings, clock) for _ in range(2))
    run_migrations(first.db)
    cam = Stamper(SITE, "cam-1", clock=clock)

    def zone(n: int) -> ZoneState:
        return cam.make(
            ZoneState,
            zone="queue",
            kind=ZoneKind.QUEUE,
            occupancy=float(n),
            count=n,
            queue_length=n,
            entered_total=n,
            exited_total=0,
        )

    ctx = IngestContext(SITE, "gw-1", clock.now(), None, clock.now())
    assert first.domain is not None
    assert second.domain is not None
    first.domain.apply_stored(first.db, [zone(1)], ctx)
    second.domain.apply_stored(second.db, [zone(2)], ctx)
    with second.db.session() as session:
        [row] = session.scalars(select(SeqStream))
        assert (row.received, row.highest_seq, row.gaps) == (2, 1, 0)
    for c in (first, second):
        c.db.dispose()


def test_a_counter_state_set_by_hand_goes_onto_the_hall_states_only(
    clock: FixedClock, tmp_path: Path
) -> None:
    """A worker applies it to its derived state's hall state and its engine's (the rules read
    it), an API replica to its live state; no gateway was heard, nothing is evaluated or
    written to InfluxDB. On the single box the route applied it already: the engine, on the
    server's hall state, has nothing to apply."""
    from server.context import ServerContext
    from server.core.config import ServerSettings
    from server.roles import ServerRole

    page = Stamper(SITE, "counter-display", clock=clock, epoch=1)
    away = page.make(CounterState, counter="c1", state=CounterStatus.AWAY, since=clock.now())
    ctx = IngestContext(SITE, "", clock.now(), by_hand=True)
    [(subject, payload, headers)] = batch_messages(BusConfig(kind="jetstream"), [away], ctx, 1 << 20)
    msg = Msg(_client=None, subject=subject, data=payload, headers=headers)  # type: ignore[arg-type]
    messages, stored_ctx = decode_batch(msg, RecentKeys())

    settings = ServerSettings(
        sql_url=f"sqlite:///{tmp_path / 'lw.sqlite3'}",
        bus=BusConfig(kind="jetstream"),
        roles=[ServerRole.WORKER],
    )
    worker = ServerContext.build(settings, clock)
    service = AlertService([], clock=clock, store=MemoryAlertStore(), engine_type=PartitionEngine)
    worker._worker_batch(service)(messages, stored_ctx)
    live = HallState(clock)
    apply_batch(live, SiteRegistry(), messages, stored_ctx)
    for hall in (worker.hall, service.engine.hall, live):
        assert hall.counters(SITE) == {"c1": CounterStatus.AWAY}
        assert hall.hall(SITE).last_batch is None  # no gateway was heard
    assert service.engine.stats.messages == 0  # applied, not evaluated
    assert batch_lines(msg, lambda site: 60.0) == []

    shared = HallState(clock)
    single = AlertService([], clock=clock, store=MemoryAlertStore(), hall=shared)
    single.on_batch([away], ctx)
    assert shared.counters(SITE) == {}  # the route's to apply (it did, before the bus)
    assert single.engine.stats.messages == 0
    worker.db.dispose()
