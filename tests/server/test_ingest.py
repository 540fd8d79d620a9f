"""Ingest: per-message answers, idempotency, gaps, reordering, wrong site, malformed batches."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select

from lobbywatch.protocol.codec import to_dict
from lobbywatch.protocol.enums import ZoneKind
from lobbywatch.protocol.messages import CameraStatus, DeviceStatus, Envelope, ZoneState
from server.core.config import IngestConfig
from server.storage.db import Database, run_migrations
from server.storage.models import InfluxSpool, ReceivedMessage, SeqStream
from server.storage.repo import insert_keys, insert_spool, prune_received, save_streams, sql_time

from .conftest import Server


def zone(server: Server, source: str = "cam-counters", **kw: Any) -> ZoneState:
    fields: dict[str, Any] = {
        "zone": "queue-main",
        "kind": ZoneKind.QUEUE,
        "occupancy": 3.0,
        "count": 3,
        "queue_length": 3,
        "expected_wait_s": 240.0,
        "entered_total": 10,
        "exited_total": 7,
    }
    fields.update(kw)
    msg: ZoneState = server.make(ZoneState, source, **fields)
    return msg


def stored(server: Server) -> int:
    with server.ctx.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(ReceivedMessage)) or 0)


def test_duplicates_by_id_and_by_sequence(make_server: Callable[..., Server], sql_url: str) -> None:
    server = make_server(sql_url=sql_url)
    a, b = zone(server), zone(server)
    first = server.send([a, b]).json()
    assert [r["status"] for r in first["results"]] == ["accepted", "accepted"]
    # The same batch again, a copy inside one batch, and a new id with an old (source, epoch, seq).
    same_key = {**to_dict(b), "id": "feedfacefeedface"}
    again = server.send([a, b, a, same_key]).json()
    assert [r["status"] for r in again["results"]] == ["duplicate"] * 4
    assert again["duplicates"] == 4
    assert again["accepted"] == 0
    assert stored(server) == 2
    c = zone(server)
    twice = server.send([c, c]).json()
    assert [r["status"] for r in twice["results"]] == ["accepted", "duplicate"]
    assert stored(server) == 3


def test_gaps_and_reordering_are_recorded(server: Server) -> None:
    msgs = [zone(server) for _ in range(6)]  # seq 0..5
    # 0, 1, then 4 (gap of 2, 3), then 5; later 3 and 2 arrive (reordered).
    r = server.send([msgs[0], msgs[1], msgs[4], msgs[5]]).json()
    assert r["accepted"] == 4
    [stream] = server.get(f"/api/v1/sites/{server.site}/streams").json()
    assert (stream["gaps"], stream["missing"], stream["highest_seq"]) == (1, 2, 5)
    r = server.send([msgs[3], msgs[2], msgs[3]]).json()
    assert [x["status"] for x in r["results"]] == ["accepted", "accepted", "duplicate"]
    [stream] = server.get(f"/api/v1/sites/{server.site}/streams").json()
    assert (stream["gaps"], stream["missing"], stream["late"], stream["received"]) == (1, 0, 2, 6)


def test_last_will_repeats_birth_seq_and_is_accepted(server: Server) -> None:
    birth = server.make(DeviceStatus, "kiosk-topup-1", state="online")
    will = DeviceStatus(**{**to_dict(birth), "id": "will0000will0000", "state": "offline", "will": True})
    r = server.send([birth, will]).json()
    assert [x["status"] for x in r["results"]] == ["accepted", "accepted"]
    [stream] = server.get(f"/api/v1/sites/{server.site}/streams").json()
    assert stream["gaps"] == 0
    assert stream["received"] == 1
    live = server.get(f"/api/v1/sites/{server.site}/live").json()
    assert [d["state"] for d in live["devices"] if d["device"] == "kiosk-topup-1"] == ["offline"]


def test_wrong_site_token_is_refused_and_nothing_stored(server: Server) -> None:
    resp = server.send([zone(server)], token="gateway_other")
    assert resp.status_code == 403
    assert server.site in resp.json()["message"] or "not" in resp.json()["message"]
    assert stored(server) == 0
    resp = server.send([zone(server)], token="admin")
    assert resp.status_code == 403
    resp = server.client.post("/api/v1/ingest", json={})
    assert resp.status_code == 401
    assert resp.json()["message"]


def test_malformed_messages_get_reasons(server: Server) -> None:
    good = zone(server)
    other_site = {**to_dict(zone(server)), "site": server.other_site}
    bad_field = {**to_dict(zone(server)), "occupancy": -1}
    unknown = {**to_dict(zone(server)), "type": "teleport"}
    no_version = {k: v for k, v in to_dict(zone(server)).items() if k != "v"}
    r = server.send([good, bad_field, unknown, other_site, no_version]).json()
    statuses = [x["status"] for x in r["results"]]
    assert statuses == ["accepted", "rejected", "rejected", "rejected", "rejected"]
    reasons = [x["reason"] for x in r["results"][1:]]
    assert "occupancy" in reasons[0]
    assert "teleport" in reasons[1]
    assert "site" in reasons[2]
    assert "version" in reasons[3]
    assert r["results"][1]["id"] == bad_field["id"]
    assert stored(server) == 1


@pytest.mark.parametrize("prepare_workers", [0, 1], ids=["in-process", "helper"])
def test_malformed_batches_are_json_errors(make_server: Callable[..., Server], prepare_workers: int) -> None:
    server = make_server(ingest=IngestConfig(prepare_workers=prepare_workers))
    h = {"Authorization": f"Bearer {server.tokens['gateway']}"}
    resp = server.client.post("/api/v1/ingest", content=b"{not json", headers=h)
    assert resp.status_code == 400
    assert "JSON" in resp.json()["message"]
    resp = server.client.post("/api/v1/ingest", json={"gateway": "gw"}, headers=h)
    assert resp.status_code == 422
    assert "site" in resp.json()["message"]
    not_objects = {**server.batch_body([]), "messages": ["not an object"]}
    resp = server.client.post("/api/v1/ingest", json=not_objects, headers=h)
    assert resp.status_code == 422
    assert "messages[0]" in resp.json()["message"]
    resp = server.client.post(
        "/api/v1/ingest", content=b"\x1f\x8bnope", headers={**h, "Content-Encoding": "gzip"}
    )
    assert resp.status_code == 400
    assert "gzip" in resp.json()["message"]
    big = b"x" * (server.ctx.settings.ingest.max_body_bytes + 10)
    resp = server.client.post("/api/v1/ingest", content=big, headers=h)
    assert resp.status_code == 413
    assert "limit" in resp.json()["message"]


def test_gzip_batches_and_backlog_marks_data_delayed(server: Server) -> None:
    cam = server.make(CameraStatus, "cam-counters", state="online", fps=8.0)
    r = server.send([cam, zone(server)], gzip_body=True)
    assert r.status_code == 200
    assert r.json()["accepted"] == 2
    live = server.get(f"/api/v1/sites/{server.site}/live").json()
    assert live["data"] == "live"
    assert live["queues"] == [
        {"zone": "queue-main", "queue_length": 3, "expected_wait_s": 240.0, "longest_wait_s": None}
    ]
    server.send([zone(server)], backlog={"count": 900, "bytes": 10**6, "oldest_age_s": 400})
    assert server.get(f"/api/v1/sites/{server.site}/live").json()["data"] == "delayed"
    server.clock.advance(3600)
    assert server.get(f"/api/v1/sites/{server.site}/live").json()["data"] == "absent"


def test_bus_gets_each_committed_batch_with_its_accepted_messages(server: Server) -> None:
    batches: list[list[str]] = []
    server.ctx.bus.subscribe(lambda ms, ctx: batches.append([m.id for m in ms]))

    def broken(_m: object, _c: object) -> None:
        raise RuntimeError("subscriber bug")

    server.ctx.bus.subscribe(broken)
    a, b = zone(server), zone(server)
    server.send([a, b])
    server.send([a, b])  # all duplicates: the batch still arrives (the gateway is alive), empty
    assert batches == [[a.id, b.id], []]
    assert server.ctx.bus.errors == 2


def test_body_limits_everywhere(server: Server) -> None:
    import gzip

    h = {"Authorization": f"Bearer {server.tokens['gateway']}", "Content-Encoding": "gzip"}
    bomb = gzip.compress(b" " * (server.ctx.settings.ingest.max_body_bytes + 1))
    resp = server.client.post("/api/v1/ingest", content=bomb, headers=h)
    assert resp.status_code == 413
    assert "decompressed" in resp.json()["message"]
    admin = {"Authorization": f"Bearer {server.tokens['admin']}", "Content-Type": "application/json"}
    big = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    resp = server.client.post("/api/v1/admin/tokens", content=big, headers=admin)
    assert resp.status_code == 413
    assert "limit" in resp.json()["message"]


def test_failed_transaction_stores_nothing_and_a_resend_counts_once(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lobbywatch.protocol.enums import DeviceEventKind
    from lobbywatch.protocol.messages import DeviceEvent

    original = server.ctx.writer.spool
    calls = {"n": 0}

    def failing_once(session: Any, lines: list[str]) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("disk full (simulated)")
        return original(session, lines)

    monkeypatch.setattr(server.ctx.writer, "spool", failing_once)
    fault = server.make(
        DeviceEvent, "kiosk-topup-1", event=DeviceEventKind.FAULT_RAISED, code="PRN_PAPER_OUT"
    )
    batch = [zone(server, occupancy=2.0), zone(server, occupancy=4.0), fault]
    resp = server.send(batch)
    assert resp.status_code == 500
    assert resp.json() == {"message": "internal server error"}
    assert stored(server) == 0
    assert server.get("/api/v1/faults").json() == []
    again = server.send(batch).json()
    assert again["accepted"] == 3
    assert len(server.get("/api/v1/faults").json()) == 1
    [stream] = [
        s for s in server.get(f"/api/v1/sites/{server.site}/streams").json() if s["source"] == "cam-counters"
    ]
    assert stream["received"] == 2
    assert stream["gaps"] == 0
    [row] = server.get(
        f"/api/v1/sites/{server.site}/rollups",
        "manager",
        start="2026-11-23T01:30:00Z",
        end="2026-11-23T01:31:00Z",
    ).json()
    assert row["occupancy_avg"] == 3.0


def test_a_second_server_process_answers_duplicate_for_what_the_first_stored(
    make_server: Callable[..., Server], sql_url: str
) -> None:
    """Two processes on one database: the second's memory knows nothing of the first's streams.

    Its fast path (no SQL lookups above a stream's known highest seq) hits the unique keys,
    and the batch is redone with every key looked up: duplicates, not a 503, nothing twice.
    """
    first = make_server(sql_url=sql_url)
    second = make_server(sql_url=sql_url)
    zones = [zone(first, occupancy=float(n)) for n in range(3)]
    msgs: list[Envelope | dict[str, Any]] = list(zones)
    assert first.send(msgs).json()["accepted"] == 3
    again = second.send(msgs)
    assert again.status_code == 200
    assert [r["status"] for r in again.json()["results"]] == ["duplicate"] * 3
    assert second.ctx.pipeline.counters.memory_conflicts == 1
    # a reused id on a new seq is a duplicate by id, also found on the retry
    reused = {**to_dict(zone(first)), "id": zones[0].id}
    fresh = zone(first)
    r = second.send([reused, fresh]).json()
    assert [x["status"] for x in r["results"]] == ["duplicate", "accepted"]
    assert stored(first) == 4


def test_rows_written_raw_read_back_through_the_orm(sql_url: str) -> None:
    db = Database(sql_url)
    run_migrations(db)
    ts = datetime(2026, 11, 23, 17, 30, 1, 250_000, tzinfo=timezone(timedelta(hours=8)))
    received = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    with db.session() as session:
        insert_keys(
            session, [("m1", "hall", "cam", 3, 7, True, "zone_state", sql_time(ts), sql_time(received))]
        )
    with db.session() as session:
        row = session.get(ReceivedMessage, "m1")
        assert row is not None
        assert (row.site, row.source, row.epoch, row.seq, row.is_will) == ("hall", "cam", 3, 7, True)
        assert row.ts == ts  # 09:30:01.25 UTC, aware
        assert row.received_at == received
        assert prune_received(session, received) == 0
        assert prune_received(session, received + timedelta(microseconds=1)) == 1
        save_streams(session, [(1, 1, 0, 0, 0, sql_time(received), "hall", "cam", 3)], [])
    with db.session() as session:
        stream = session.get(SeqStream, ("hall", "cam", 3))
        assert stream is not None
        assert (stream.highest_seq, stream.received, stream.last_ts) == (1, 1, received)
    with db.session() as session:
        save_streams(session, [], [(9, 8, 1, 2, 0, sql_time(ts), "hall", "cam", 3)])
        insert_spool(session, received, 2, "a\nb")
    with db.session() as session:
        stream = session.get(SeqStream, ("hall", "cam", 3))
        assert stream is not None
        assert (stream.highest_seq, stream.received, stream.gaps, stream.missing) == (9, 8, 1, 2)
        assert stream.last_ts == ts
        spool = session.scalars(select(InfluxSpool)).one()
        assert (spool.created_at, spool.n_lines, spool.body) == (received, 2, "a\nb")
    db.dispose()
