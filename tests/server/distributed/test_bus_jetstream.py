"""The JetStream bus inside one server (TestClient): a batch is stored in the stream before
ingest answers, the subscribers get the same ``(messages, IngestContext)`` calls as on the
in-process bus, and the alert engine fires through it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence

import nats
import pytest

from lobbywatch.protocol.messages import DeviceEvent, Envelope
from lobbywatch.services import NatsServer, wait_until
from server.bus import IngestContext
from server.bus_jetstream import JetStreamBus, partition_of
from server.core.config import BusConfig
from tests.server.conftest import Server
from tests.server.test_ingest import zone


def jetstream_cfg(urls: list[str], **overrides: object) -> BusConfig:
    """A stream, subjects and consumer of the test's own on a shared NATS server."""
    name = f"t{uuid.uuid4().hex[:8]}"
    fields: dict[str, object] = {
        "kind": "jetstream",
        "servers": urls,
        "stream": name.upper(),
        "subject_prefix": name,
        "partitions": 4,
        **overrides,
    }
    return BusConfig.model_validate(fields)


def stream_subjects(url: str, stream: str) -> dict[str, int]:
    async def run() -> dict[str, int]:
        nc = await nats.connect(url)
        try:
            info = await nc.jetstream().stream_info(stream, subjects_filter=">")
            return dict(info.state.subjects or {})
        finally:
            await nc.close()

    return asyncio.run(run())


def test_batches_reach_subscribers_through_the_stream(
    make_server: Callable[..., Server], nats_server: NatsServer
) -> None:
    cfg = jetstream_cfg([nats_server.url])
    server = make_server(bus=cfg)
    assert isinstance(server.ctx.bus, JetStreamBus)
    calls: list[tuple[list[str], IngestContext]] = []

    def record(messages: Sequence[Envelope], ctx: IngestContext) -> None:
        calls.append(([m.id for m in messages], ctx))

    server.ctx.bus.subscribe(record)
    a, b = zone(server), zone(server)
    assert server.send([a, b]).status_code == 200
    # Stored before the answer: one stream message for the batch, under partition and site.
    part = partition_of(server.site, 4)
    subject = f"{cfg.subject_prefix}.batch.{part}.{server.site}"
    assert stream_subjects(nats_server.url, cfg.stream) == {subject: 1}
    assert server.send([a, b]).status_code == 200  # duplicates: the gateway is alive, no messages
    assert wait_until(lambda: len(calls) == 2, 10)
    assert [ids for ids, _ in calls] == [[a.id, b.id], []]
    first = calls[0][1]
    assert (first.site, first.gateway, first.received_at) == (server.site, "gw-1", server.clock.now())
    assert first.backlog is not None
    assert first.backlog.count == 2


def test_the_alert_engine_fires_once_through_jetstream(
    make_server: Callable[..., Server], nats_server: NatsServer
) -> None:
    server = make_server(bus=jetstream_cfg([nats_server.url]))
    fault = server.make(DeviceEvent, "kiosk-topup-1", event="fault_raised", code="PRN_OUT", unusable=True)
    assert server.send([fault]).status_code == 200
    assert server.send([fault]).status_code == 200  # a resend: SQL and JetStream both drop it

    def kinds() -> list[str]:
        return [a["kind"] for a in server.get("/api/v1/alerts", "manager").json()]

    assert wait_until(lambda: kinds() == ["device_fault"], 10)


def test_ingest_answers_503_when_jetstream_cannot_store(
    make_server: Callable[..., Server], tmp_path_factory: pytest.TempPathFactory
) -> None:
    with NatsServer(tmp_path_factory.mktemp("nats-down")) as nats_down:
        server = make_server(bus=jetstream_cfg([nats_down.url], publish_timeout_s=1))
        nats_down.stop()
        a = zone(server)
        refused = server.send([a])
        assert refused.status_code == 503, refused.text
        nats_down.start()  # same port and store: the client reconnects
        # Accepted, not a duplicate: nothing of the refused batch was committed.
        assert wait_until(lambda: server.send([a]).json()["accepted"] == 1, 20)
