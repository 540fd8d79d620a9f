"""The writers' work queue on a real nats-server and influxd: a batch is acknowledged only once
InfluxDB took its points (a writer whose InfluxDB is down hands every batch back, and another
writer writes them), and two writers share the stored batches, each written once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import pytest

from lobbywatch import series
from lobbywatch.clock import FixedClock
from lobbywatch.protocol.enums import ZoneKind
from lobbywatch.protocol.ingest import Backlog
from lobbywatch.protocol.messages import Envelope, ZoneState
from lobbywatch.protocol.sequence import Stamper
from lobbywatch.services import Influxd, NatsServer, free_port, wait_until
from server.bus import IngestContext
from server.bus_jetstream import JetStreamBus
from server.bus_nats import NatsLink
from server.bus_writers import WriterQueue, writers_consumer
from server.core.config import BusConfig, InfluxConfig
from server.storage.db import Database, run_migrations
from server.timeseries.writer import InfluxWriter

from .test_bus_jetstream import jetstream_cfg

BATCHES = 12


@pytest.fixture
def cfg(nats_server: NatsServer) -> Iterator[BusConfig]:
    """A stream of the test's own, created by a bus (ingest's side), holding ``BATCHES`` batches."""
    cfg = jetstream_cfg([nats_server.url])
    bus = JetStreamBus(cfg)
    bus.start()
    try:
        yield cfg
    finally:
        bus.stop()


def store_batches(cfg: BusConfig, clock: FixedClock) -> None:
    bus = JetStreamBus(cfg)
    bus.start()
    try:
        cam = Stamper("hall-1", "cam-1", clock=clock)
        for i in range(BATCHES):
            clock.advance(1)
            messages: list[Envelope] = [
                cam.make(
                    ZoneState,
                    zone="queue",
                    kind=ZoneKind.QUEUE,
                    occupancy=float(i),
                    count=i,
                    entered_total=i,
                    exited_total=0,
                )
            ]
            backlog = Backlog(count=1, bytes=10, oldest_age_s=0.1)
            bus.store(messages, IngestContext("hall-1", "gw-1", clock.now(), backlog, clock.now()))
    finally:
        bus.stop()


def writer_on(tmp: Path, url: str, db: str, clock: FixedClock) -> InfluxWriter:
    sql = Database(f"sqlite:///{tmp / f'spool-{free_port()}.sqlite3'}")
    run_migrations(sql)
    return InfluxWriter(sql, InfluxConfig(url=url, database=db, max_retry_s=1), clock)


def queue_backlog(cfg: BusConfig) -> tuple[int, int]:
    """(not yet delivered, delivered but not acknowledged) of the writers' consumer."""

    async def run() -> tuple[int, int]:
        nc = await nats.connect(servers=cfg.servers)
        try:
            info = await nc.jetstream(timeout=10).consumer_info(cfg.stream, writers_consumer(cfg.consumer))
            return int(info.num_pending or 0), int(info.num_ack_pending or 0)
        finally:
            await nc.close()

    return asyncio.run(run())


def zone_points(influxd: Influxd, db: str) -> int:
    result: Any = influxd.query(f'SELECT count("occupancy") FROM "{series.Zone.MEASUREMENT}"', db=db)
    found = result["results"][0].get("series")
    return int(found[0]["values"][0][1]) if found else 0


def running(cfg: BusConfig, writer: InfluxWriter, name: str) -> tuple[NatsLink, WriterQueue]:
    link = NatsLink(cfg, name)
    link.start()
    queue = WriterQueue(link, writer, lambda _site: 600.0)
    queue.start()
    return link, queue


def stop(link: NatsLink, queue: WriterQueue) -> None:
    queue.stop()
    link.stop()


@pytest.mark.real
def test_a_batch_is_acknowledged_only_once_influxdb_took_it(
    cfg: BusConfig, tmp_path: Path, influxd: Influxd, influx_db: str
) -> None:
    clock = FixedClock(datetime(2026, 11, 23, 1, 0, tzinfo=UTC))
    store_batches(cfg, clock)
    down = writer_on(tmp_path, f"http://127.0.0.1:{free_port()}", influx_db, clock)  # nothing listens
    link, queue = running(cfg, down, "down")
    try:
        assert wait_until(lambda: down.stats.failures >= 2, 20)
        assert queue.batches == 0
        assert sum(queue_backlog(cfg)) == BATCHES  # handed back, none acknowledged
    finally:
        stop(link, queue)
    up = writer_on(tmp_path, influxd.url, influx_db, clock)
    link, queue = running(cfg, up, "up")
    try:
        assert wait_until(lambda: queue_backlog(cfg) == (0, 0), 30)
        assert queue.batches == BATCHES
        assert zone_points(influxd, influx_db) == BATCHES
    finally:
        stop(link, queue)


@pytest.mark.real
def test_two_writers_share_the_batches_each_written_once(
    cfg: BusConfig, tmp_path: Path, influxd: Influxd, influx_db: str
) -> None:
    clock = FixedClock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
    writers = [writer_on(tmp_path, influxd.url, influx_db, clock) for _ in range(2)]
    queues = [running(cfg, w, f"w{i}") for i, w in enumerate(writers)]
    try:
        store_batches(cfg, clock)
        assert wait_until(lambda: sum(q.batches for _, q in queues) == BATCHES, 30)
        assert queue_backlog(cfg) == (0, 0)
        # Each batch has one zone point and one gateway point: written once in all.
        assert sum(w.stats.written_lines for w in writers) == 2 * BATCHES
        assert zone_points(influxd, influx_db) == BATCHES
    finally:
        for link, queue in queues:
            stop(link, queue)
