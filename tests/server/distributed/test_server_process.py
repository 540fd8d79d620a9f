"""The real thing on JetStream: ``lobbywatch server run`` as its own process, its bus on a
three-node NATS cluster (R3 stream). Gateway batches are accepted; the NATS node the server
is connected to is killed mid-stream; the gateway resends what was refused; nothing is lost
or stored twice (SQL keys, stream messages) and the device fault sent after the kill raises
one alert through the consumer."""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from nats.js import JetStreamContext

from lobbywatch.clock import SystemClock
from lobbywatch.protocol.codec import to_dict
from lobbywatch.protocol.messages import DeviceEvent
from lobbywatch.protocol.sequence import Stamper
from lobbywatch.services import NatsServer, wait_until
from server.bus_jetstream import partition_of
from tests.helpers_nats import NatsCluster
from tests.server.distributed.helpers_jetstream import ask_cluster
from tests.server.distributed.helpers_replicas import zones
from tests.server.helpers_server_process import server_run

STREAM = "LWPROC"
PARTITIONS = 8
TOKENS = {"admin": "lw_admin-secret-for-tests", "gateway": "lw_gw-secret"}


@dataclass
class ServerProcess:
    base: str
    site: str
    sqlite: Path
    log: Path

    def post(self, messages: list[dict[str, Any]]) -> httpx.Response:
        body = {
            "gateway": "gw",
            "site": self.site,
            "sent_at": SystemClock().now().isoformat(),
            "backlog": {"count": len(messages), "bytes": 100, "oldest_age_s": 0.1},
            "messages": messages,
        }
        auth = {"Authorization": f"Bearer {TOKENS['gateway']}"}
        return httpx.post(f"{self.base}/api/v1/ingest", json=body, headers=auth, timeout=30)

    def send_until_answered(self, messages: list[dict[str, Any]]) -> tuple[dict[str, Any], int]:
        """What a gateway does: resend the batch until the server answers 200; (answer, refusals)."""
        refused = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                resp = self.post(messages)
            except httpx.HTTPError:
                resp = None
            if resp is not None and resp.status_code == 200:
                answer: dict[str, Any] = resp.json()
                return answer, refused
            refused += 1
            time.sleep(0.2)
        raise AssertionError(f"batch never accepted:\n{self.log.read_text()[-3000:]}")

    def stored_keys(self) -> list[tuple[str, int, int]]:
        with sqlite3.connect(self.sqlite) as db:
            rows = db.execute(
                "SELECT source, epoch, seq FROM received_messages WHERE site = ?", (self.site,)
            ).fetchall()
        return [(str(s), int(e), int(q)) for s, e, q in rows]

    def alerts(self) -> list[dict[str, Any]]:
        auth = {"Authorization": f"Bearer {TOKENS['admin']}"}
        resp = httpx.get(f"{self.base}/api/v1/alerts", headers=auth, timeout=10)
        resp.raise_for_status()
        out: list[dict[str, Any]] = resp.json()
        return out


@pytest.fixture
def server_on_cluster(tmp_path: Path, site_id: str, nats_cluster: NatsCluster) -> Iterator[ServerProcess]:
    bus = f"""bus:
  kind: jetstream
  servers: {json.dumps(nats_cluster.urls)}
  stream: {STREAM}
  replicas: 3
  partitions: {PARTITIONS}
  publish_timeout_s: 5
"""
    with server_run(tmp_path, site_id, TOKENS, bus) as run:
        yield ServerProcess(run.base, site_id, run.sqlite, run.log)


def connected_node(cluster: NatsCluster) -> NatsServer:
    """The node the server's bus client is connected to (from the nodes' /connz)."""
    for node in cluster.nodes:
        if not node.running:
            continue
        url = f"http://{node.host}:{node.monitor_port}/connz"
        with urllib.request.urlopen(url, timeout=2) as resp:
            names = [c.get("name", "") for c in json.load(resp).get("connections", [])]
        if any(n.startswith("lobbywatch-server-") for n in names):
            return node
    raise AssertionError("the server is connected to no NATS node")


async def stream_messages(js: JetStreamContext) -> int:
    """Messages in the stream."""
    return int((await js.stream_info(STREAM)).state.messages)


def consumer_backlog(site: str) -> Callable[[JetStreamContext], Awaitable[list[tuple[int, int]]]]:
    """(messages not yet delivered, delivered but not acknowledged) of each consumer of the
    site's partition's owner (one expected)."""

    async def ask(js: JetStreamContext) -> list[tuple[int, int]]:
        prefix = f"alerts-{partition_of(site, PARTITIONS)}-"  # the owner's own consumer
        infos = await js.consumers_info(STREAM)
        return [
            (int(i.num_pending or 0), int(i.num_ack_pending or 0)) for i in infos if i.name.startswith(prefix)
        ]

    return ask


@pytest.mark.real
def test_killing_the_connected_nats_node_loses_nothing(
    server_on_cluster: ServerProcess, nats_cluster: NatsCluster
) -> None:
    server = server_on_cluster
    cam = Stamper(server.site, "cam-counters", clock=SystemClock())

    sent = batches = 0
    for _ in range(10):
        answer, _ = server.send_until_answered(zones(cam, 20))
        assert answer["accepted"] == 20
        sent += 20
        batches += 1
    victim = connected_node(nats_cluster)
    victim.kill()
    killed_at = time.monotonic()
    failover_s = 0.0
    refusals = 0
    last: list[dict[str, Any]] = []
    for _ in range(10):
        last = zones(cam, 20)
        answer, refused = server.send_until_answered(last)
        failover_s = failover_s or time.monotonic() - killed_at
        refusals += refused
        assert answer["accepted"] == 20
        sent += 20
        batches += 1
    again, _ = server.send_until_answered(last)  # a resend of an answered batch: all duplicates
    assert (again["accepted"], again["duplicates"]) == (0, 20)
    kiosk = Stamper(server.site, "kiosk-topup-1", clock=SystemClock())
    fault = to_dict(kiosk.make(DeviceEvent, event="fault_raised", code="PRN_PAPER_OUT", unusable=True))
    assert server.send_until_answered([fault])[0]["accepted"] == 1
    sent += 1
    # Nothing lost, nothing twice: SQL keys, and the stream's messages (one per answered batch,
    # the all-duplicate one included: it shows the gateway is alive).
    keys = server.stored_keys()
    assert len(keys) == len(set(keys)) == sent
    # Asked until the JetStream API answers: the cluster elects a new meta leader after the kill.
    ask_cluster(nats_cluster, stream_messages, "messages in the stream", until=lambda n: n == batches + 2)

    # The partition's consumer (failed over to a surviving node) fed the alert engine: one alert.
    def kinds() -> list[str]:
        return [a["kind"] for a in server.alerts()]

    assert wait_until(lambda: kinds() == ["device_fault"], 30), kinds()
    # every stored message delivered and acknowledged
    ask_cluster(
        nats_cluster, consumer_backlog(server.site), "the consumer's backlog", until=lambda b: b == [(0, 0)]
    )
    assert connected_node(nats_cluster) is not victim
    # The bus resends within publish_timeout_s while the stream elects a new leader, so the
    # gateway is usually not even refused; a refusal would be resent like any 503.
    print(f"NATS node killed: first batch answered after {failover_s:.2f} s, {refusals} refusals")
