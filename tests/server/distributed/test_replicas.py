"""Two ``lobbywatch server run`` processes on one JetStream stream (a real nats-server) and one
PostgreSQL database: A runs every role (ingest, api, writer, worker), B is an ingest and API
replica only. Gateways post to either; both serve the same live state of every hall and the
same alert list; an acknowledgement through one is seen through the other, in its API and in
its alert stream, within 1 s; SQL holds each message once and the writer filled InfluxDB; a
counter state set through B reaches A's worker and live state with no terminal's report
(docs/distributed.md, "Roles")."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pytest

from lobbywatch import series
from lobbywatch.clock import SystemClock
from lobbywatch.protocol.codec import to_dict
from lobbywatch.protocol.enums import ZoneKind
from lobbywatch.protocol.messages import DeviceEvent, ZoneState
from lobbywatch.protocol.sequence import Stamper
from lobbywatch.services import Influxd, NatsServer, Postgres, wait_until
from tests.server.conftest import write_hall
from tests.server.distributed.helpers_replicas import (
    AlertStream,
    Replica,
    consumers_done,
    start_replica,
    stop_replicas,
    stream_of,
    write_config,
    zones,
)

SEEN_WITHIN_S = 1.0  # the acceptance: an acknowledgement through one replica, through the other


@pytest.fixture
def replicas(
    tmp_path: Path, nats_server: NatsServer, postgres_url: str, influxd: Influxd, influx_db: str
) -> Iterator[tuple[Replica, Replica, list[str]]]:
    sites = ["hall-rep-a", "hall-rep-b"]
    halls = [write_hall(tmp_path, s) for s in sites]
    config = write_config(tmp_path, halls, sites, postgres_url, influxd.url, influx_db, nats_server.url)
    started: list[Replica] = []
    try:
        started.append(start_replica(tmp_path, config, "a", "all"))
        started.append(start_replica(tmp_path, config, "b", "ingest,api"))
        yield started[0], started[1], sites
    finally:
        stop_replicas(started)


def live(replica: Replica, site: str) -> dict[str, Any]:
    view: dict[str, Any] = replica.get(f"/api/v1/sites/{site}/live")
    view.pop("as_of")
    return view


def acknowledged_through(
    other: Replica, stream: AlertStream, alert_id: str, asked_at: float, acked_at: float
) -> tuple[float, float]:
    """Seconds from ``acked_at`` (the acknowledging replica answered) until ``other`` shows the
    alert acknowledged: in GET /api/v1/alerts, in its stream (0 when it was there first)."""

    def in_api() -> bool:
        return any(a["id"] == alert_id and a["state"] == "acknowledged" for a in other.get("/api/v1/alerts"))

    assert wait_until(in_api, 10, interval=0.02)
    api_s = time.monotonic() - acked_at
    assert wait_until(
        lambda: stream.first_with(alert_id, "acknowledged", asked_at) is not None, 10, interval=0.02
    )
    seen = stream.first_with(alert_id, "acknowledged", asked_at)
    assert seen is not None
    return api_s, max(0.0, seen - acked_at)


@pytest.mark.real
def test_two_replicas_serve_one_state_and_an_ack_travels(
    replicas: tuple[Replica, Replica, list[str]], postgres_url: str, influxd: Influxd, influx_db: str
) -> None:
    a, b, sites = replicas
    clock = SystemClock()
    cams = {s: Stamper(s, "cam-counters", clock=clock) for s in sites}
    kiosks = {s: Stamper(s, "kiosk-topup-1", clock=clock) for s in sites}
    sent = batches = 0
    for i in range(6):  # each hall's gateway reaches either replica (a load balancer)
        for site in sites:
            replica = (a, b)[(i + sites.index(site)) % 2]
            assert replica.post(site, zones(cams[site], 20))["accepted"] == 20
            sent += 20
            batches += 1
    for site, replica in zip(sites, (b, a), strict=True):  # each hall's fault through the other replica
        fault = to_dict(
            kiosks[site].make(DeviceEvent, event="fault_raised", code="PRN_PAPER_OUT", unusable=True)
        )
        assert replica.post(site, [fault])["accepted"] == 1
        sent += 1
        batches += 1

    # The same live state of every hall through both replicas (each follows the whole stream).
    def same_live() -> bool:
        return all(live(a, s) == live(b, s) and live(a, s)["zones"] and live(a, s)["devices"] for s in sites)

    assert wait_until(same_live, 30, interval=0.1), [(live(a, s), live(b, s)) for s in sites]
    for s in sites:
        kiosk = next(d for d in live(b, s)["devices"] if d["device"] == "kiosk-topup-1")
        assert kiosk["faults"] == ["PRN_PAPER_OUT"]

    # The same alert list: the worker (in A) raised one device fault per hall.
    def faults() -> list[dict[str, Any]]:
        return [x for x in a.get("/api/v1/alerts") if x["kind"] == "device_fault"]

    assert wait_until(lambda: len(faults()) == 2, 30), (a.get("/api/v1/alerts"), a.tail())
    assert wait_until(lambda: a.get("/api/v1/alerts") == b.get("/api/v1/alerts"), 10)
    by_site = {x["site"]: x["id"] for x in faults()}

    streams = {r.name: AlertStream(r) for r in (a, b)}
    threads = [threading.Thread(target=s.run, daemon=True) for s in streams.values()]
    for t in threads:
        t.start()
    assert wait_until(lambda: all(s.events for s in streams.values()), 10)
    figures: list[tuple[str, str, float, float, float]] = []
    # Through the replica without an engine (B asks the worker in A), then through A.
    for acker, other, site in ((b, a, sites[0]), (a, b, sites[1])):
        asked_at = time.monotonic()
        assert acker.ack(by_site[site])["state"] == "acknowledged"
        acked_at = time.monotonic()  # counted from the answer: the acknowledgement is made
        api_s, stream_s = acknowledged_through(other, streams[other.name], by_site[site], asked_at, acked_at)
        figures.append((acker.name, other.name, acked_at - asked_at, api_s, stream_s))
        assert api_s < SEEN_WITHIN_S, figures
        assert stream_s < SEEN_WITHIN_S, figures
    for stream in streams.values():
        stream.stop()
    assert a.get("/api/v1/alerts") == b.get("/api/v1/alerts")

    # SQL: every message once; InfluxDB: the writer wrote each batch's gateway point.
    with psycopg.connect(postgres_url.replace("postgresql+psycopg://", "postgresql://")) as db:
        keys = db.execute("SELECT site, source, epoch, seq FROM received_messages").fetchall()
    assert len(keys) == len(set(keys)) == sent

    def gateway_points() -> int:
        result: Any = influxd.query(f'SELECT count("{series.Gateway.BACKLOG}") FROM "gateway"', db=influx_db)
        rows = result["results"][0].get("series", [{"values": [[0, 0]]}])[0]["values"]
        return int(rows[0][1])

    assert wait_until(lambda: gateway_points() == batches, 30), gateway_points()
    for by, seen_by, ack_s, api_s, stream_s in figures:
        print(
            f"ack via {by} answered in {ack_s:.3f} s; then seen via {seen_by} in the API after "
            f"{api_s:.3f} s, in its alert stream after {stream_s:.3f} s"
        )


@pytest.mark.real
def test_a_counter_state_set_through_a_replica_reaches_the_worker(
    replicas: tuple[Replica, Replica, list[str]],
) -> None:
    """Counter c1 set away on its page through B (no engine) and never reported by its
    terminal: A's live state shows it, and the worker in A has it in its hall state before the
    entrance's next batch (the hall's partition keeps the order), so the arrivals surge that
    batch raises names c1 away (the busy-hour playbook's staffing)."""
    a, b, sites = replicas
    site = sites[0]
    assert b.set_counter(site, "c1", "away")["state"] == "away"
    display = f"/api/v1/sites/{site}/counters/c1/display"
    assert wait_until(lambda: a.get(display)["state"] == "away", 10, interval=0.05), a.get(display)
    cam = Stamper(site, "cam-entrance", clock=SystemClock())
    entrance = [
        to_dict(
            cam.make(
                ZoneState,
                zone="entrance",
                kind=ZoneKind.ENTRANCE,
                occupancy=1.0,
                count=1,
                entered_total=total,  # 40 arrivals after the first reading: a surge (30 in 10 min)
                exited_total=0,
            )
        )
        for total in (0, 40)
    ]
    assert a.post(site, entrance)["accepted"] == 2

    def surge() -> dict[str, Any] | None:
        return next((x for x in a.get("/api/v1/alerts") if x["kind"] == "peak_surge"), None)

    assert wait_until(lambda: surge() is not None, 30, interval=0.05), (a.get("/api/v1/alerts"), a.tail())
    raised = surge()
    assert raised is not None
    assert (raised["site"], raised["params"]["away_ids"]) == (site, ["c1"]), raised


DERIVED_TABLES = ("seq_streams", "device_episodes", "device_faults", "zone_minutes", "site_minutes")


def sql_rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """The derived tables, rows sorted, without their surrogate ids."""
    out = {}
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as db:
        for table in DERIVED_TABLES:
            cur = db.execute(f"SELECT * FROM {table}")
            names = [c.name for c in cur.description or ()]
            rows = [tuple(v for n, v in zip(names, row, strict=True) if n != "id") for row in cur.fetchall()]
            out[table] = sorted(rows, key=repr)
    return out


def influx_points(influxd: Influxd, db: str) -> dict[str, list[str]]:
    """Every point of every measurement but the engine's alerts (stamped with its own clock)."""
    result: Any = influxd.query("SHOW MEASUREMENTS", db=db)
    names = [v[0] for v in result["results"][0].get("series", [{"values": []}])[0]["values"]]
    out = {}
    for name in names:
        if name == series.Alert.MEASUREMENT:
            continue
        rows: Any = influxd.query(f'SELECT * FROM "{name}"', db=db)
        values = rows["results"][0]["series"][0]["values"]
        out[name] = sorted(repr(v) for v in values)
    return out


def new_database(postgres: Postgres) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(
        host=postgres.host, port=postgres.port, user=postgres.user, dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://{postgres.user}@{postgres.host}:{postgres.port}/{name}"


@pytest.mark.real
def test_two_replicas_derive_what_one_process_derives(
    tmp_path: Path, nats_server: NatsServer, postgres: Postgres, influxd: Influxd
) -> None:
    """The same gateway batches through one single-box process, and through two replicas (A:
    every role, B: ingest and API) on JetStream: the same derived SQL (sequence statistics,
    device episodes and faults, rollup minutes) and the same points in InfluxDB."""
    sites = ["hall-same-a", "hall-same-b"]
    clock = SystemClock()
    traffic: list[tuple[str, list[dict[str, Any]], str]] = []
    for site in sites:
        cam, kiosk = Stamper(site, "cam-counters", clock=clock), Stamper(site, "kiosk-topup-1", clock=clock)
        for i in range(5):
            traffic.append((site, zones(cam, 20), clock.now().isoformat()))
            if i == 1:
                raised = kiosk.make(DeviceEvent, event="fault_raised", code="PRN_PAPER_OUT", unusable=True)
                traffic.append((site, [to_dict(raised)], clock.now().isoformat()))
            if i == 3:
                cleared = kiosk.make(DeviceEvent, event="fault_cleared", code="PRN_PAPER_OUT")
                traffic.append((site, [to_dict(cleared)], clock.now().isoformat()))
    traffic.sort(key=lambda t: t[2])  # the halls' batches interleaved, as they arrive

    results = {}
    for setup in ("one", "two"):
        tmp = tmp_path / setup
        tmp.mkdir()
        halls = [write_hall(tmp, s) for s in sites]
        url, db = new_database(postgres), f"t_{uuid.uuid4().hex[:12]}"
        influxd.query(f'CREATE DATABASE "{db}"')
        nats = nats_server.url if setup == "two" else None
        config = write_config(tmp, halls, sites, url, influxd.url, db, nats)
        started: list[Replica] = []
        try:
            if setup == "one":
                started.append(start_replica(tmp, config, "one", "all"))
            else:
                started += [
                    start_replica(tmp, config, "a", "all"),
                    start_replica(tmp, config, "b", "ingest,api"),
                ]
            for n, (site, messages, sent_at) in enumerate(traffic):
                assert started[n % len(started)].post(site, messages, sent_at)["accepted"] == len(messages)
            if nats is not None:
                assert wait_until(partial(consumers_done, nats, stream_of(tmp)), 30)
        finally:
            stop_replicas(started)  # the worker's open rollup minutes are flushed, the spool drained
        results[setup] = (sql_rows(url), influx_points(influxd, db))
    (sql_one, points_one), (sql_two, points_two) = results["one"], results["two"]
    assert all(sql_one[t] for t in ("seq_streams", "device_episodes", "device_faults", "zone_minutes"))
    assert sql_two == sql_one
    assert {"zone", "gateway", "site", "stream", "device_event", "device_status"} <= set(points_one)
    assert points_two == points_one
