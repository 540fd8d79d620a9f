"""The InfluxDB spool is one ordered queue of lines and deletions (server.timeseries.writer):
the writer runs its oldest rows of one kind at a time, so a deletion spooled after a line runs
after that line was written, and one spooled before it leaves the point written; a second
writer process waits for the chunk another one drains, and two writers draining at once post
one chunk at a time, every row once, in spool order (a real influxd, on SQLite and PostgreSQL);
migration ``0011_superseded_points`` marks the spool's rows and the settled visits."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import func, select

from lobbywatch.clock import FixedClock
from lobbywatch.protocol.enums import VisitOutcome
from lobbywatch.services import Influxd, wait_until
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


class Recording(InfluxWriter):
    """A writer (posting to the real influxd) that notes where each of its posts starts and ends,
    with the lines or statements it sent, in a list every writer of the test shares; its first
    post waits until ``first_waits_for()`` holds (or 10 s pass, noted as False)."""

    def __init__(
        self,
        name: str,
        events: list[tuple[str, str, list[str]]],
        db: Database,
        cfg: InfluxConfig,
        first_waits_for: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__(db, cfg, FixedClock(T0))
        self.name = name
        self.events = events
        self.first_waits_for = first_waits_for
        self.waited: bool | None = None
        self.posting = threading.Event()  # set as its first post begins (its chunk locked)

    def _around(self, items: list[str], send: Callable[[], None]) -> None:
        if self.first_waits_for is not None and self.waited is None:
            self.posting.set()
            self.waited = wait_until(self.first_waits_for, 10)
        self.events.append((self.name, "start", items))
        try:
            send()
        finally:
            self.events.append((self.name, "end", []))

    def _post(self, body: bytes, total: int) -> None:
        self._around(body.decode().split("\n"), partial(super()._post, body, total))

    def _delete(self, statements: str, total: int) -> None:
        self._around(statements.split(";"), partial(super()._delete, statements, total))


def waiting_for_a_row_lock(db: Database) -> bool:
    """Whether a session of this database waits for a lock (another writer's chunk)."""
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    with db.session() as session:
        return bool(session.scalar(query))


@pytest.mark.parametrize("sql_url", ["postgresql"], indirect=True)  # SQLite: one writer process
def test_two_writers_draining_at_once_post_every_row_once_in_spool_order(
    db: Database, influxd: Influxd, influx_db: str
) -> None:
    cfg = InfluxConfig(url=influxd.url, database=influx_db, batch_lines=3)
    events: list[tuple[str, str, list[str]]] = []
    # The first writer posts its first chunk once the second one waits for that chunk's rows.
    a = Recording("a", events, db, cfg, first_waits_for=lambda: waiting_for_a_row_lock(db))
    b = Recording("b", events, db, cfg)
    spooled: list[str] = []  # every line and deletion, in spool order
    with db.session() as session:
        for c in range(30):
            spooled.append(line(c))
            a.spool(session, spooled[-1:])
            if c % 4 == 3:  # customer c - 1 merged since: its point deleted
                spooled.append(customer_delete(SITE, c - 1, T0))
                a.spool_deletions(session, spooled[-1:])
        spooled += [customer_delete(SITE, 99, T0), line(99)]  # a deletion before its line
        a.spool_deletions(session, spooled[-2:-1])
        a.spool(session, spooled[-1:])
    errors: list[Exception] = []

    def drain(writer: InfluxWriter) -> None:
        try:
            while writer.drain_once():
                pass
        except Exception as exc:  # asserted below
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=(w,)) for w in (a, b)]
    threads[0].start()
    assert a.posting.wait(10)
    threads[1].start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert a.waited  # the second writer waited for the rows of the chunk the first one posted
    # One post at a time, each row's lines or deletions posted once, in spool order.
    starts, ends = events[0::2], events[1::2]
    assert [(w, what) for w, what, _ in starts] == [(w, "start") for w, _, _ in starts]
    assert [(w, what) for w, what, _ in ends] == [(w, "end") for w, _, _ in starts]
    assert [item for _, _, items in starts for item in items] == spooled
    written = a.stats.written_lines + b.stats.written_lines
    deletions = a.stats.deletions + b.stats.deletions
    assert (written, deletions, a.stats.dropped_lines + b.stats.dropped_lines) == (31, 8, 0)
    assert (customers(influxd, influx_db), spool_rows(db)) == (31 - 7, 0)
