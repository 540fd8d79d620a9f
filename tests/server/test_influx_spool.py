"""The InfluxDB spool is one ordered queue of lines and deletions (server.timeseries.writer):
the writer runs its oldest rows of one kind at a time, so a deletion spooled after a line runs
after that line was written, and one spooled before it leaves the point written (a real
influxd, on SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from lobbywatch.clock import FixedClock
from lobbywatch.protocol.enums import VisitOutcome
from lobbywatch.services import Influxd
from server.core.config import InfluxConfig
from server.storage.db import Database, run_migrations
from server.storage.models import InfluxSpool
from server.timeseries.lines import customer_delete, customer_line
from server.timeseries.writer import InfluxWriter

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
SITE = "hall-1"


@pytest.fixture
def db(sql_url: str) -> Iterator[Database]:
    database = Database(sql_url)
    run_migrations(database)
    yield database
    database.dispose()


@pytest.fixture
def writer(db: Database, influxd: Influxd, influx_db: str) -> InfluxWriter:
    return InfluxWriter(db, InfluxConfig(url=influxd.url, database=influx_db), FixedClock(T0))


def line(customer: int) -> str:
    return customer_line(
        SITE, customer, T0, outcome=VisitOutcome.SERVED, camera_visits=1, wait_s=60.0, wait_limit_s=600.0
    )


def customers(influxd: Influxd, database: str) -> int:
    res: Any = influxd.query("SELECT * FROM customer_visit", db=database)
    return sum(len(s["values"]) for s in res["results"][0].get("series", []))


def spool_rows(db: Database) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(InfluxSpool)) or 0)


def test_a_deletion_spooled_after_a_line_runs_after_it(
    db: Database, writer: InfluxWriter, influxd: Influxd, influx_db: str
) -> None:
    with db.session() as session:
        n = writer.spool(session, [line(7), line(8)])
        n += writer.spool_deletions(session, [customer_delete(SITE, 7, T0)])
    writer.spooled(n)
    assert writer.drain_once()  # the lines only: a chunk never mixes kinds
    assert (customers(influxd, influx_db), spool_rows(db)) == (2, 1)
    assert writer.drain_once()  # then the deletion, of customer 7's point only
    assert (customers(influxd, influx_db), spool_rows(db)) == (1, 0)
    assert not writer.drain_once()
    assert (writer.stats.pending_lines, writer.stats.written_lines, writer.stats.deletions) == (0, 2, 1)


def test_a_deletion_spooled_before_a_line_leaves_the_point_written(
    db: Database, writer: InfluxWriter, influxd: Influxd, influx_db: str
) -> None:
    with db.session() as session:
        n = writer.spool_deletions(session, [customer_delete(SITE, 7, T0)])
        n += writer.spool(session, [line(7)])
    writer.spooled(n)
    while writer.drain_once():
        pass
    assert customers(influxd, influx_db) == 1


def test_a_deletion_influxdb_did_not_run_stays_spooled(db: Database, influx_db: str) -> None:
    cfg = InfluxConfig(url="http://127.0.0.1:9", database=influx_db, timeout_s=1)  # nobody listens
    down = InfluxWriter(db, cfg, FixedClock(T0))
    with db.session() as session:
        down.spooled(down.spool_deletions(session, [customer_delete(SITE, 7, T0)]))
    with pytest.raises(httpx.TransportError):  # the writer thread retries it later
        down.drain_once()
    assert (spool_rows(db), down.stats.pending_lines, down.stats.deletions) == (1, 1, 0)
