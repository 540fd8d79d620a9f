"""Visits reach the server: stored once per camera visit and joined into customers across
cameras; the served-within-limit share, the wait percentiles and the waits per business type
come from them (on SQLite and PostgreSQL), settled customers reach InfluxDB once each, and
migrations 0008 and 0009 run on both."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import inspect, select, text

from lobbywatch.protocol.enums import VisitOutcome
from lobbywatch.protocol.messages import Envelope, VisitPoint, VisitRecord
from lobbywatch.protocol.tickets import TicketEvent
from lobbywatch.services import Influxd
from server.storage.db import Database
from server.storage.models import VisitRow
from server.visits import percentile
from tests.server.helpers_migrations import migration_config

from .conftest import Server
from .test_influx import influx_cfg, rows


def _visit(server: Server, visit: str, wait_s: float | None, outcome: VisitOutcome) -> VisitRecord:
    now = server.clock.now()
    fields: dict[str, Any] = {
        "visit": visit,
        "arrived": now - timedelta(minutes=40),
        "left": now,
        "outcome": outcome,
    }
    if wait_s is not None:
        fields |= {"wait_zone": "queue-main", "wait_started": now - timedelta(minutes=39), "wait_s": wait_s}
    if outcome == VisitOutcome.SERVED:
        fields |= {
            "service_zone": "counter-1",
            "service_started": now - timedelta(minutes=5),
            "service_s": 280.0,
        }
    msg: VisitRecord = server.make(VisitRecord, "cam-counters", **fields)
    return msg


def test_visits_are_stored_once_and_summarised(make_server: Callable[..., Server], sql_url: str) -> None:
    server = make_server(sql_url=sql_url)
    visits: list[Envelope | dict[str, Any]] = [
        _visit(server, "v-1", 120.0, VisitOutcome.SERVED),
        _visit(server, "v-2", 540.0, VisitOutcome.SERVED),
        _visit(server, "v-3", 900.0, VisitOutcome.SERVED),
        _visit(server, "v-4", 700.0, VisitOutcome.WALKED_OUT),
        _visit(server, "v-5", None, VisitOutcome.PASSED),
    ]
    r = server.send(visits).json()
    assert r["accepted"] == 5
    assert server.send(visits[:2]).json()["duplicates"] == 2
    now = server.clock.now()
    period = {
        "start": (now - timedelta(hours=1)).isoformat(),
        "end": (now + timedelta(seconds=1)).isoformat(),
    }
    r = server.get(f"/api/v1/sites/{server.site}/visits/summary", role="manager", **period)
    assert r.status_code == 200, r.text
    s = r.json()
    assert [s[k] for k in ("visits", "waited", "served", "walked_out", "served_within_limit")] == [
        5,
        4,
        3,
        1,
        2,
    ]
    assert s["served_within_limit_pct"] == 50.0  # the walk-out was not served in time (10-min limit)
    assert (s["wait_p50_s"], s["wait_p90_s"]) == (540.0, 900.0)
    other = server.get(f"/api/v1/sites/{server.site}/visits/summary", role="manager_other", **period)
    assert other.status_code == 404
    assert (
        server.get(f"/api/v1/sites/{server.site}/visits/summary", role="vendor_a", **period).status_code
        == 403
    )


def test_nearest_rank_percentile() -> None:
    assert percentile([], 90) is None
    assert percentile([5.0, 1.0, 3.0], 50) == 3.0
    assert percentile([float(i) for i in range(1, 11)], 90) == 9.0


def _camera_visit(
    server: Server,
    camera: str,
    visit: str,
    *,
    arrived: datetime,
    left: datetime,
    path: list[tuple[datetime, tuple[float, float]]],
    wait_started: datetime | None = None,
    service_started: datetime | None = None,
) -> VisitRecord:
    """A visit of ``camera`` whose path goes through the given floor points."""
    fields: dict[str, Any] = {"visit": visit, "arrived": arrived, "left": left}
    end = service_started or left
    if wait_started is not None:
        fields |= {
            "wait_zone": "waiting",
            "wait_started": wait_started,
            "wait_s": (end - wait_started).total_seconds(),
        }
    if service_started is not None:
        fields |= {
            "service_zone": "counter-1",
            "service_started": service_started,
            "service_s": (left - service_started).total_seconds(),
        }
    outcome = (
        VisitOutcome.SERVED
        if service_started
        else VisitOutcome.WALKED_OUT
        if wait_started
        else VisitOutcome.PASSED
    )
    path_points = [VisitPoint(at=t, image=(0.5, 0.5), floor=p) for t, p in path]
    msg: VisitRecord = server.make(VisitRecord, camera, outcome=outcome, path=path_points, **fields)
    return msg


def _two_cameras_and_a_stranger(server: Server) -> list[Envelope | dict[str, Any]]:
    """One customer waits 7 min at the entrance camera, walks on into the counters camera's
    view (the views overlap), queues 4 more minutes there and is served: an 11-minute wait;
    someone else appears on the counters camera at the same moment, far away: a 3-minute wait."""
    t0 = server.clock.now() - timedelta(minutes=30)
    m = timedelta(minutes=1)
    first = _camera_visit(
        server,
        "cam-entrance",
        "e-1",
        arrived=t0,
        left=t0 + 8 * m,
        path=[(t0, (3.0, 1.0)), (t0 + m, (4.0, 3.0)), (t0 + 7.9 * m, (8.0, 5.5)), (t0 + 8 * m, (9.0, 5.8))],
        wait_started=t0 + m,
    )
    second = _camera_visit(
        server,
        "cam-counters",
        "c-1",
        arrived=t0 + 7.9 * m,
        left=t0 + 16 * m,
        path=[(t0 + 7.9 * m, (8.4, 5.6)), (t0 + 8 * m, (9.0, 5.8)), (t0 + 16 * m, (12.0, 6.5))],
        wait_started=t0 + 8 * m,
        service_started=t0 + 12 * m,
    )
    stranger = _camera_visit(
        server,
        "cam-counters",
        "c-2",
        arrived=t0 + 7.9 * m,
        left=t0 + 12 * m,
        path=[(t0 + 7.9 * m, (14.0, 9.0)), (t0 + 12 * m, (14.0, 9.5))],
        wait_started=t0 + 8 * m,
        service_started=t0 + 11 * m,
    )
    return [first, second, stranger]


@pytest.mark.parametrize("order", ["in_time", "reversed"])
def test_a_customer_seen_by_two_cameras_counts_once_with_the_whole_wait(
    make_server: Callable[..., Server], sql_url: str, order: str
) -> None:
    server = make_server(sql_url=sql_url)
    sent = _two_cameras_and_a_stranger(server)
    for msg in sent if order == "in_time" else sent[::-1]:
        assert server.send([msg]).json()["accepted"] == 1
    now = server.clock.now()
    period = {"start": (now - timedelta(hours=1)).isoformat(), "end": now.isoformat()}
    s = server.get(f"/api/v1/sites/{server.site}/visits/summary", role="manager", **period).json()
    assert (s["visits"], s["camera_visits"], s["waited"], s["served"], s["walked_out"]) == (2, 3, 2, 2, 0)
    assert sorted([s["wait_p50_s"], s["wait_p90_s"]]) == [180.0, 660.0]  # 11 min, not 7 + 4
    assert (s["served_within_limit"], s["served_within_limit_pct"]) == (1, 50.0)
    assert s["by_business"] == [
        {
            "business": None,
            "source": "visits",
            "waits": 2,
            "within_limit_pct": 50.0,
            "wait_p50_s": 180.0,
            "wait_p90_s": 660.0,
        }
    ]
    with server.ctx.db.session() as session:
        rows = {r.visit: r for r in session.scalars(select(VisitRow))}
        assert rows["e-1"].customer == rows["c-1"].customer == min(rows["e-1"].id, rows["c-1"].id)
        assert rows["c-2"].customer == rows["c-2"].id


def test_a_settled_customer_seen_by_two_cameras_is_one_point_with_the_whole_wait(
    make_server: Callable[..., Server], influxd: Influxd, influx_db: str
) -> None:
    server = make_server(influx=influx_cfg(influxd, influx_db))
    assert server.send(_two_cameras_and_a_stranger(server)).json()["accepted"] == 3
    assert server.ctx.settle is not None
    server.ctx.settle.run_due()  # last seen 14 and 18 min ago: final (the timer may be first)
    assert server.ctx.settle.run_due() == 0
    assert server.ctx.writer.flush(30), server.ctx.writer.stats
    site = server.site
    customers = rows(influxd, influx_db, f"SELECT * FROM customer_visit WHERE site = '{site}'")
    assert sorted((c["camera_visits"], c["wait_s"], c["outcome"], c["within_limit"]) for c in customers) == [
        (1, 180.0, "served", 1),
        (2, 660.0, "served", 0),
    ]
    [share] = rows(
        influxd, influx_db, f"SELECT mean(within_limit) * 100 FROM customer_visit WHERE site = '{site}'"
    )
    assert share["mean"] == 50.0  # as /visits/summary says; the camera visits' points say 67 %
    assert len(rows(influxd, influx_db, f"SELECT * FROM visit WHERE site = '{site}'")) == 3


def test_waits_per_business_type_come_from_tickets_where_the_hall_has_them(
    make_server: Callable[..., Server], sql_url: str
) -> None:
    server = make_server(sql_url=sql_url)
    issued = server.clock.now()
    msgs: list[Envelope | dict[str, Any]] = [
        server.make(TicketEvent, "qms", event="issued", ticket=t, business=b, issued_at=issued)
        for t, b in (("A001", "new_subscription"), ("B001", "sim_replacement"))
    ]
    server.clock.advance(300)
    msgs.append(
        server.make(
            TicketEvent,
            "qms",
            event="called",
            ticket="B001",
            business="sim_replacement",
            issued_at=issued,
            counter="c1",
        )
    )
    server.clock.advance(420)
    for ticket, event in (("A001", "called"), ("A001", "service_started"), ("B001", "recalled")):
        business = "new_subscription" if ticket == "A001" else "sim_replacement"
        msgs.append(
            server.make(
                TicketEvent,
                "qms",
                event=event,
                ticket=ticket,
                business=business,
                issued_at=issued,
                counter="c2" if ticket == "A001" else "c1",
            )
        )
    msgs.append(_visit(server, "v-1", 120.0, VisitOutcome.SERVED))
    assert server.send(msgs).json()["accepted"] == 7
    now = server.clock.now()
    period = {
        "start": (now - timedelta(hours=1)).isoformat(),
        "end": (now + timedelta(seconds=1)).isoformat(),
    }
    s = server.get(f"/api/v1/sites/{server.site}/visits/summary", role="manager", **period).json()
    assert [
        (b["business"], b["source"], b["waits"], b["wait_p90_s"], b["within_limit_pct"])
        for b in s["by_business"]
    ] == [
        ("new_subscription", "tickets", 1, 720.0, 0.0),
        ("sim_replacement", "tickets", 1, 300.0, 100.0),
    ]
    assert s["wait_p50_s"] == 120.0  # the visits' own figures stay the visits'
    # a period after B001's call: its recall is no first call
    later = {**period, "start": (now - timedelta(seconds=60)).isoformat()}
    s = server.get(f"/api/v1/sites/{server.site}/visits/summary", role="manager", **later).json()
    assert [(b["business"], b["waits"]) for b in s["by_business"]] == [("new_subscription", 1)]


def test_the_visit_customers_migration_runs_on_stored_visits(sql_url: str) -> None:
    db = Database(sql_url)
    config = migration_config()
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0007_visits")
        conn.execute(
            text(
                "INSERT INTO visits (site, camera, visit, arrived_at, left_at, zones, outcome) "
                "VALUES ('hall', 'cam', 'v1', '2026-11-23 01:00:00', '2026-11-23 01:10:00', '', 'passed')"
            )
        )
        command.upgrade(config, "heads")
    with db.session() as session:
        row = session.scalars(select(VisitRow)).one()
        assert (row.customer, row.path, row.settled_at) == (row.id, "", None)
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0007_visits")
        assert "customer" not in {c["name"] for c in inspect(conn).get_columns("visits")}
    db.dispose()
