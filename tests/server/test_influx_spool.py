"""The InfluxDB spool is one ordered queue of lines and deletions (server.timeseries.writer):
the writer runs its oldest rows of one kind at a time, so a deletion spooled after a line runs
after that line was written, and one spooled before it leaves the point written; a second
writer process waits for the chunk another one drains (a real influxd, on SQLite and
PostgreSQL); migration ``0011_superseded_points`` marks the spool's rows and the settled visits."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import func, select

from lobbywatch.clock import FixedClock
from lobbywatch.protocol.enums import VisitOutcome
from lobbywatch.services import Influxd
from server.core.config import InfluxConfig
from server.storage.db import Database
from server.storage.models import InfluxSpool
from server.timeseries.lines import customer_delete, customer_line
from server.timeseries.writer import WRITE, InfluxWriter
from tests.server.helpers_migrations import migration_config

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
SITE = "hall-1"


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


def test_a_deletion_influxdb_refuses_is_dropped_and_the_spool_goes_on(
    db: Database, writer: InfluxWriter, influxd: Influxd, influx_db: str
) -> None:
    with db.session() as session:
        n = writer.spool_deletions(session, ["DELETE FROM WHERE"])  # InfluxDB cannot parse it
        n += writer.spool(session, [line(7)])
    writer.spooled(n)
    while writer.drain_once():
        pass
    assert (customers(influxd, influx_db), spool_rows(db)) == (1, 0)
    assert (writer.stats.dropped_lines, writer.stats.deletions, writer.stats.pending_lines) == (1, 0, 0)


def test_a_deletion_influxdb_did_not_run_stays_spooled(db: Database, influx_db: str) -> None:
    cfg = InfluxConfig(url="http://127.0.0.1:9", database=influx_db, timeout_s=1)  # nobody listens
    down = InfluxWriter(db, cfg, FixedClock(T0))
    with db.session() as session:
        down.spooled(down.spool_deletions(session, [customer_delete(SITE, 7, T0)]))
    with pytest.raises(httpx.TransportError):  # the writer thread retries it later
        down.drain_once()
    assert (spool_rows(db), down.stats.pending_lines, down.stats.deletions) == (1, 1, 0)


@pytest.mark.parametrize("sql_url", ["postgresql"], indirect=True)  # SQLite: one writer process
def test_a_second_writer_waits_for_the_chunk_another_one_drains(
    db: Database, writer: InfluxWriter, influxd: Influxd, influx_db: str
) -> None:
    with db.session() as session:
        n = writer.spool(session, [line(7)])
        n += writer.spool_deletions(session, [customer_delete(SITE, 7, T0)])
    writer.spooled(n)
    other = InfluxWriter(db, InfluxConfig(url=influxd.url, database=influx_db), FixedClock(T0))
    with db.session() as first:  # a writer posting the line: its chunk locked until it answered
        [held] = first.scalars(select(InfluxSpool).order_by(InfluxSpool.id).limit(1).with_for_update())
        assert held.kind == WRITE
        second = threading.Thread(target=other.drain_once)
        second.start()
        second.join(0.5)
        assert second.is_alive()  # it waits: neither the line again nor the deletion yet
        first.delete(held)  # the first writer's line was written
    second.join(10)
    assert not second.is_alive()
    assert (spool_rows(db), other.stats.deletions, other.stats.written_lines) == (0, 1, 0)


def test_the_migration_marks_the_spool_rows_and_the_settled_visits(sql_url: str) -> None:
    db = Database(sql_url)
    config = migration_config()
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0010_alerts_open_key")
        conn.execute(
            sa.text("INSERT INTO influx_spool (created_at, n_lines, body) VALUES (:t, 1, 'x')"), {"t": T0}
        )
        for id_, customer, settled in ((1, 1, T0), (2, 1, T0), (3, 3, None)):
            conn.execute(
                sa.text(
                    "INSERT INTO visits (id, site, camera, visit, arrived_at, left_at, zones, outcome,"
                    " path, customer, settled_at) VALUES (:id, :site, 'cam', :v, :t, :t, '', 'passed',"
                    " '', :customer, :settled)"
                ),
                {"id": id_, "site": SITE, "v": f"v{id_}", "t": T0, "customer": customer, "settled": settled},
            )
        command.upgrade(config, "heads")
        assert conn.execute(sa.text("SELECT kind FROM influx_spool")).scalars().all() == [WRITE]
        rows = conn.execute(sa.text("SELECT id, settled_as FROM visits ORDER BY id")).all()
        assert [tuple(r) for r in rows] == [(1, 1), (2, 1), (3, None)]  # settled as their customer
        command.downgrade(config, "0010_alerts_open_key")
        assert "kind" not in {c["name"] for c in sa.inspect(conn).get_columns("influx_spool")}
    db.dispose()
