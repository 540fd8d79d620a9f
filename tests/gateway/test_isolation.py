"""A batch is never stuck behind one message: the forwarder splits a batch the server cannot
read until the message at fault is alone, quarantines it and delivers the rest; token
problems and server failures still retry the whole batch, quarantining nothing.

The forwarder runs on its own here (no broker): messages are written into its outbox
directly, bad bodies included (the gateway itself no longer stores those)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from sqlalchemy import select

from gateway.forwarder import Forwarder, ForwarderSettings
from gateway.outbox import GatewayOutbox, NewMessage
from gateway.stats import Stats
from lobbywatch.clock import FixedClock, SystemClock
from lobbywatch.services import wait_until
from server.app import create_app
from server.core.config import InfluxConfig, IngestConfig, ServerSettings
from server.core.security import create_token
from server.storage.models import ReceivedMessage
from tests.gateway.helpers_ingest import IngestReceiver
from tests.gateway.helpers_streams import TS, Outgoing, assert_exactly_once_in_order, device_stream
from tests.helpers_asgi import ThreadedAsgiServer

ROOT = Path(__file__).resolve().parents[2]
#: The largest body the real server takes in these tests, so that one message can exceed it.
SERVER_BODY_LIMIT = 64 * 1024


@dataclass
class Rig:
    """A forwarder started on an outbox of its own."""

    outbox: GatewayOutbox
    stats: Stats
    forwarder: Forwarder

    def store(self, items: list[tuple[str, str, str]]) -> None:
        """(msg id, source, body) in this order, as samples."""
        self.outbox.store(
            [NewMessage(mid, src, "sample", float(i), body) for i, (mid, src, body) in enumerate(items)]
        )
        self.forwarder.notify()

    def quarantine(self) -> list[tuple[str, str | None, str, str]]:
        return self.outbox.quarantine_rows()


@contextmanager
def forwarding(tmp_path: Path, site: str, url: str, token: str, batch_max: int = 500) -> Iterator[Rig]:
    clock = SystemClock()
    outbox = GatewayOutbox(tmp_path / "outbox.sqlite3", 64 * 1024 * 1024)
    stats = Stats(clock)
    settings = ForwarderSettings(
        gateway_id="gw1",
        site=site,
        server_url=url,
        token=token,
        batch_max=batch_max,
        batch_age_s=0.0,
        request_timeout_s=5.0,
        retry_initial_s=0.02,
        retry_max_s=0.1,
    )
    backlog = '{"count": 0, "bytes": 0, "oldest_age_s": 0}'
    fwd = Forwarder(settings, outbox, stats, clock, random.Random(1), lambda: backlog)
    fwd.start()
    try:
        yield Rig(outbox, stats, fwd)
    finally:
        fwd.stop()
        outbox.close()


def _good(sent: list[Outgoing]) -> list[tuple[str, str, str]]:
    return [(o.msg_id, o.source, o.payload.decode()) for o in sent]


# --------------------------------------------------------------------------- test receiver


def test_one_unreadable_message_is_isolated_and_the_rest_delivered_once(
    tmp_path: Path, receiver: IngestReceiver, site_id: str
) -> None:
    sent = device_stream(site_id, 100)
    bad = sent[37]
    receiver.unreadable_ids = {bad.msg_id}
    with forwarding(tmp_path, site_id, receiver.url, receiver.token) as rig:
        rig.store(_good(sent))
        assert wait_until(lambda: rig.outbox.count == 0, 20), rig.stats.last_send_error
        rows = rig.quarantine()
        backlog = rig.outbox.backlog()
    good = [o for o in sent if o is not bad]
    assert_exactly_once_in_order(receiver.stored(), good)
    assert receiver.state.duplicates == 0
    assert rows == [
        ("server", None, "server_rejected", f"HTTP 400: body is not JSON: message {bad.msg_id} is unreadable")
    ]
    assert (backlog.quarantined, backlog.quarantined_by_reason) == (1, {"server_rejected": 1})
    assert rig.stats.rejected_by_server == 1
    assert rig.stats.forwarded == len(good)
    assert rig.stats.retries == 0
    # Halving 100 down to 1 refuses one batch per level (7), never a batch twice.
    assert receiver.state.unreadable_batches == 7


def test_per_message_rejections_are_quarantined_and_counted(
    tmp_path: Path, receiver: IngestReceiver, site_id: str
) -> None:
    sent = device_stream(site_id, 40)
    receiver.reject_ids = {sent[3].msg_id, sent[30].msg_id}
    receiver.unreadable_ids = {sent[20].msg_id}
    with forwarding(tmp_path, site_id, receiver.url, receiver.token) as rig:
        rig.store(_good(sent))
        assert wait_until(lambda: rig.outbox.count == 0, 20), rig.stats.last_send_error
        rows = rig.quarantine()
        backlog = rig.outbox.backlog()
    assert receiver.stored_count() == 37
    assert receiver.state.rejected == 2, "a rejected message was sent again"
    assert sorted(r[3] for r in rows) == [
        f"HTTP 400: body is not JSON: message {sent[20].msg_id} is unreadable",
        "rejected by the test receiver",
        "rejected by the test receiver",
    ]
    assert backlog.quarantined_by_reason == {"server_rejected": 3}
    assert rig.stats.rejected_by_server == 3


@pytest.mark.parametrize("trouble", ["error", "token", "no_gzip"])
def test_server_failures_token_and_encoding_problems_retry_the_whole_batch(
    tmp_path: Path, receiver: IngestReceiver, site_id: str, trouble: str
) -> None:
    sent = device_stream(site_id, 30)
    token = "wrong-token" if trouble == "token" else receiver.token
    if trouble != "token":
        receiver.set_mode("error" if trouble == "error" else "no_gzip")
    with forwarding(tmp_path, site_id, receiver.url, token) as rig:
        rig.store(_good(sent))
        assert wait_until(lambda: rig.stats.retries >= 3, 20)
        assert receiver.state.requests >= 3
        assert rig.quarantine() == []
        assert rig.outbox.count == len(sent)
        expected = {
            "error": "server answered 500",
            "token": "server answered 401",
            "no_gzip": "server answered 415",
        }
        assert rig.stats.last_send_error == expected[trouble]
        if trouble == "token":
            receiver.token = token
        else:
            receiver.set_mode("ok")
        assert wait_until(lambda: rig.outbox.count == 0, 20)
        assert rig.quarantine() == []
    assert_exactly_once_in_order(receiver.stored(), sent)
    assert set(receiver.state.batch_sizes) == {30}, "the batch was split"


# --------------------------------------------------------------------------- the real server


@dataclass
class InProcessServer:
    app: FastAPI
    url: str
    token: str

    def stored_ids(self, site: str) -> list[str]:
        with self.app.state.ctx.db.session() as session:
            rows = session.scalars(select(ReceivedMessage.id).where(ReceivedMessage.site == site))
            return [str(r) for r in rows]


@pytest.fixture
def central(tmp_path: Path, site_id: str) -> Iterator[InProcessServer]:
    """The central server (SQLite, InfluxDB off, no helper processes) under uvicorn in a thread."""
    data: dict[str, Any] = yaml.safe_load(
        (ROOT / "deploy" / "examples" / "telecom-hall.yaml").read_text(encoding="utf-8")
    )
    data["site"] = site_id
    data.pop("notifications", None)
    hall = tmp_path / "hall.yaml"
    hall.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    settings = ServerSettings(
        sql_url=f"sqlite:///{tmp_path / 'server.sqlite3'}",
        influx=InfluxConfig(enabled=False),
        ingest=IngestConfig(prepare_workers=0, max_body_bytes=SERVER_BODY_LIMIT),
        halls=[hall],
    )
    clock = FixedClock.at(TS)
    app = create_app(settings, clock)
    server = ThreadedAsgiServer(app, "isolation-server").start()
    with app.state.ctx.db.session() as session:
        _row, token = create_token(
            session, name="gw", role="gateway", sites=[site_id], created_at=clock.now()
        )
    assert token is not None
    try:
        yield InProcessServer(app, server.url, token)
    finally:
        server.stop()


def _bad_bodies(good: dict[str, Any]) -> dict[str, str]:
    """Stored bodies the real server cannot read, by what is wrong with them."""
    text = json.dumps(good)
    return {
        "not_json": "{this is not json",
        "nan": text.replace('"uptime_s": ', '"uptime_s": NaN, "x": '),
        "huge_number": text.replace('"uptime_s": ', '"uptime_s": 1e400, "x": '),
        "too_deep": '{"v": 1, "deep": ' + "[" * 1100 + "]" * 1100 + "}",
        "not_an_object": '"just a string"',
        "oversized": json.dumps(
            {**good, "pad": "".join(random.Random(7).choices("abcdef0123", k=SERVER_BODY_LIMIT))}
        ),
    }


@pytest.mark.real
def test_the_real_server_refusals_isolate_each_bad_message(
    tmp_path: Path, central: InProcessServer, site_id: str
) -> None:
    sent = device_stream(site_id, 60)
    heartbeat = next(json.loads(o.payload) for o in sent if o.delivery == "sample")
    bad = _bad_bodies(heartbeat)
    items = _good(sent)
    for k, (name, body) in enumerate(bad.items()):  # spread among the good ones
        items.insert(5 + 9 * k, (f"bad-{name}", "kiosk-x", body))
    with forwarding(tmp_path, site_id, central.url, central.token, batch_max=100) as rig:
        rig.store(items)
        assert wait_until(lambda: rig.outbox.count == 0, 30), rig.stats.last_send_error
        rows = rig.quarantine()
        backlog = rig.outbox.backlog()
    stored = central.stored_ids(site_id)
    assert sorted(stored) == sorted(o.msg_id for o in sent), "a good message is missing"
    counters = central.app.state.ctx.pipeline.counters
    assert (counters.accepted, counters.duplicates, counters.rejected) == (len(sent), 0, 0)
    assert [r[2] for r in rows] == ["server_rejected"] * len(bad)
    details = dict(zip(bad, (r[3] for r in rows), strict=True))
    assert details["not_json"].startswith("HTTP 400: body is not JSON")
    assert details["nan"].startswith("HTTP 400: body is not JSON")
    assert "infinity" in details["huge_number"]
    assert "depth limit" in details["too_deep"]
    assert details["not_an_object"].startswith("HTTP 422: invalid batch")
    assert details["oversized"].startswith("HTTP 413")
    assert backlog.quarantined_by_reason == {"server_rejected": len(bad)}
    assert rig.stats.rejected_by_server == len(bad)
    assert rig.stats.retries == 0
