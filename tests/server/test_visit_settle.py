"""Settling visits (issue 17): a customer is final once no camera visit can still join them;
settling then repairs a join ingest missed and writes one ``customer_visit`` point per
customer, once, and deletes the points of customers a late camera visit merged (server.visit_settle
with the injected clock, on SQLite and PostgreSQL; the last tests write to a real influxd)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from lobbywatch.clock import FixedClock
from lobbywatch.protocol.enums import VisitOutcome
from lobbywatch.protocol.messages import VisitPoint, VisitRecord
from lobbywatch.protocol.sequence import Stamper
from lobbywatch.services import Influxd
from server.core.config import InfluxConfig
from server.storage.db import Database
from server.storage.models import InfluxSpool, VisitRow
from server.timeseries.lines import customer_delete, ns
from server.timeseries.writer import DELETE, WRITE, InfluxWriter
from server.visit_settle import MARGIN, VisitSettle
from server.visits import JOIN_WINDOW, store_visit

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
M = timedelta(minutes=1)
SITE = "hall-1"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0 + 16 * M)


@pytest.fixture
def settler(db: Database, clock: FixedClock) -> VisitSettle:
    writer = InfluxWriter(db, InfluxConfig(enabled=False), clock)
    return VisitSettle(db, writer, clock, lambda site: 600.0)


def row(camera: str, visit: str, arrived: datetime, left: datetime, **kw: datetime) -> VisitRow:
    """A stored camera visit that waited from ``wait`` (and was served at ``served``), whose
    path goes from (8.4, 5.6) m where it began to (9.0, 5.8) m where it ended."""
    wait, served = kw.get("wait"), kw.get("served")
    end = served or left
    outcome = VisitOutcome.SERVED if served else VisitOutcome.WALKED_OUT
    return VisitRow(
        site=SITE,
        camera=camera,
        visit=visit,
        arrived_at=arrived,
        left_at=left,
        zones="waiting",
        wait_zone="waiting",
        wait_started=wait,
        wait_s=None if wait is None else (end - wait).total_seconds(),
        service_started=served,
        outcome=outcome.value,
        path=json.dumps([[arrived.isoformat(), 8.4, 5.6], [left.isoformat(), 9.0, 5.8]]),
    )


def store(db: Database, *rows: VisitRow, joined: bool = False) -> None:
    """Store rows as ingest would have, each its own customer (a join missed) or one."""
    with db.session() as session:
        session.add_all(rows)
        session.flush()
        for r in rows:
            r.customer = rows[0].id if joined else r.id


def spooled(db: Database, kind: str) -> list[str]:
    """The spool's lines (or deletions), in spool order."""
    with db.session() as session:
        rows = session.scalars(select(InfluxSpool).where(InfluxSpool.kind == kind).order_by(InfluxSpool.id))
        return [ln for s in rows for ln in s.body.split("\n")]


def points(db: Database) -> list[tuple[int, dict[str, str]]]:
    """The spooled ``customer_visit`` points: (time ns, fields)."""
    lines = spooled(db, WRITE)
    out = []
    for ln in lines:
        m = re.fullmatch(rf"customer_visit,site={SITE} (\S+) (\d+)", ln)
        assert m, ln
        fields = dict(f.split("=", 1) for f in m.group(1).split(","))
        out.append((int(m.group(2)), fields))
    return out


# a customer waits on the entrance camera from 1 min, walks into the counters camera's view at
# 7.9 min and is served there at 12 min, last seen at 16 min: an 11-minute wait
ENTRANCE = (T0, T0 + 8 * M)
COUNTERS = (T0 + 7.9 * M, T0 + 16 * M)


def test_a_customer_is_final_once_the_join_window_and_margin_have_passed_and_settled_once(
    db: Database, clock: FixedClock, settler: VisitSettle
) -> None:
    store(
        db,
        row("cam-entrance", "e-1", *ENTRANCE, wait=T0 + M),
        row("cam-counters", "c-1", *COUNTERS, wait=T0 + 8 * M, served=T0 + 12 * M),
        joined=True,
    )
    clock.advance((JOIN_WINDOW + MARGIN).total_seconds() - 1)
    assert settler.run_due() == 0  # a camera visit may still join them
    clock.advance(1)
    assert settler.run_due() == 1
    assert settler.run_due() == 0
    [(at, fields)] = points(db)
    assert fields == {
        "outcome": '"served"',
        "camera_visits": "2i",
        "wait_s": "660",
        "within_limit": "0i",
    }
    with db.session() as session:
        first = session.scalars(select(VisitRow).where(VisitRow.visit == "e-1")).one()
        assert at == ns(T0) + first.id % 1000  # named by its first camera visit, when it began
        settled = {r.settled_at for r in session.scalars(select(VisitRow))}
        assert settled == {clock.now()}


def test_settling_repairs_a_join_ingest_missed(db: Database, clock: FixedClock, settler: VisitSettle) -> None:
    # two ingest transactions stored the two camera visits at once: neither saw the other
    store(
        db,
        row("cam-entrance", "e-1", *ENTRANCE, wait=T0 + M),
        row("cam-counters", "c-1", *COUNTERS, wait=T0 + 8 * M, served=T0 + 12 * M),
    )
    clock.advance((JOIN_WINDOW + MARGIN).total_seconds())
    assert settler.run_due() == 1
    [(_at, fields)] = points(db)
    assert (fields["camera_visits"], fields["wait_s"]) == ("2i", "660")
    with db.session() as session:
        assert len({r.customer for r in session.scalars(select(VisitRow))}) == 1


def test_a_camera_visit_delivered_after_settling_replaces_the_customers_point(
    db: Database, clock: FixedClock, settler: VisitSettle
) -> None:
    store(db, row("cam-entrance", "e-1", *ENTRANCE, wait=T0 + M))
    clock.advance((JOIN_WINDOW + MARGIN).total_seconds())
    assert settler.run_due() == 1  # the counters camera's record is late: walked out, 7 min
    store(db, row("cam-counters", "c-1", *COUNTERS, wait=T0 + 8 * M, served=T0 + 12 * M))
    assert settler.run_due() == 1
    (at1, before), (at2, after) = points(db)
    assert at1 == at2  # the same point, deleted then written again
    assert (before["outcome"], before["wait_s"]) == ('"walked_out"', "420")
    assert (after["outcome"], after["camera_visits"], after["wait_s"]) == ('"served"', "2i", "660")
    with db.session() as session:
        first = session.scalars(select(VisitRow).where(VisitRow.visit == "e-1")).one()
    assert spooled(db, DELETE) == [customer_delete(SITE, first.id, T0)]  # no field of it stays


@pytest.mark.parametrize("sql_url", ["postgresql"], indirect=True)  # SQLite: one writer at a time
def test_two_ingest_transactions_at_once_miss_the_join_and_settling_makes_it(
    db: Database, clock: FixedClock, settler: VisitSettle
) -> None:

    def record(camera: str, arrived: datetime, left: datetime, **kw: datetime) -> VisitRecord:
        r = row(camera, "v", arrived, left, **kw)
        path = [VisitPoint(at=t, image=(0.5, 0.5), floor=(x, y)) for t, x, y in json.loads(r.path)]
        msg: VisitRecord = Stamper(SITE, camera, clock=clock).make(
            VisitRecord,
            visit=f"{camera}-1",
            arrived=arrived,
            left=left,
            wait_zone="waiting",
            wait_started=r.wait_started,
            wait_s=r.wait_s,
            service_zone="counter-1" if r.service_started else None,
            service_started=r.service_started,
            service_s=(left - r.service_started).total_seconds() if r.service_started else None,
            outcome=VisitOutcome(r.outcome),
            path=path,
        )
        return msg

    # two ingest replicas store the two camera visits in transactions that overlap
    with db.session() as one, db.session() as two:
        store_visit(one, record("cam-entrance", *ENTRANCE, wait=T0 + M))
        store_visit(two, record("cam-counters", *COUNTERS, wait=T0 + 8 * M, served=T0 + 12 * M))
    with db.session() as session:
        assert len({r.customer for r in session.scalars(select(VisitRow))}) == 2
    clock.advance((JOIN_WINDOW + MARGIN).total_seconds())
    assert settler.run_due() == 1
    [(_at, fields)] = points(db)
    assert (fields["camera_visits"], fields["wait_s"], fields["within_limit"]) == ("2i", "660", "0i")


# two customers settled apart: A waits on the entrance camera, walks out of its view at 5 min;
# B is seen on the counters camera from 10 min, served at 12. The hall camera's visit between
# (4.9 to 10.2 min) is delivered after both were settled: it joins them into one customer.
A = ("cam-entrance", "a-1", T0, T0 + 5 * M)
B = ("cam-counters", "b-1", T0 + 10 * M, T0 + 16 * M)
BETWEEN = ("cam-hall", "h-1", T0 + 4.9 * M, T0 + 10.2 * M)


def influx_points(influxd: Influxd, database: str) -> list[dict[str, object]]:
    res: Any = influxd.query("SELECT * FROM customer_visit", db=database)
    series = res["results"][0].get("series", [])
    return [dict(zip(s["columns"], v, strict=True)) for s in series for v in s["values"]]


@pytest.mark.parametrize("written_between", [True, False], ids=["written-between", "spooled-together"])
def test_a_late_camera_visit_joining_two_settled_customers_leaves_one_point_in_influxdb(
    db: Database, clock: FixedClock, influxd: Influxd, influx_db: str, written_between: bool
) -> None:
    cfg = InfluxConfig(url=influxd.url, database=influx_db, max_retry_s=0.5, flush_interval_s=0.05)
    writer = InfluxWriter(db, cfg, clock)
    settler = VisitSettle(db, writer, clock, lambda site: 600.0)
    store(db, row(*A, wait=T0 + M))
    store(db, row(*B, wait=T0 + 10 * M, served=T0 + 12 * M))
    clock.advance((JOIN_WINDOW + MARGIN).total_seconds())
    assert settler.run_due() == 2  # two customers: the visits do not continue one another
    if written_between:
        writer.start()
        assert writer.flush(30)
        assert len(influx_points(influxd, influx_db)) == 2
    store(db, row(*BETWEEN))
    assert settler.run_due() == 1
    if not written_between:  # both points, their deletions and the new point wait in the spool
        writer.start()
    try:
        assert writer.flush(30)
    finally:
        writer.stop()
    [point] = influx_points(influxd, influx_db)
    with db.session() as session:
        first = session.scalars(select(VisitRow).where(VisitRow.visit == "a-1")).one()
        assert {r.customer for r in session.scalars(select(VisitRow))} == {first.id}
    assert point["time"] == (ns(T0) + first.id % 1000) // 1_000_000  # A's point (epoch=ms)
    assert (point["outcome"], point["camera_visits"], point["wait_s"]) == ("served", 3, 660)
    assert point["within_limit"] == 0
    assert (writer.stats.deletions, writer.stats.dropped_lines) == (2, 0)
