"""The NATS fixtures themselves: a three-node JetStream cluster forms on loopback, and a
stream replicated on all three (R3) keeps every message when one node is killed."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import nats
import pytest
from nats.js.api import StreamConfig

from lobbywatch.services import NatsServer
from tests.helpers_nats import NatsCluster
from tests.server.distributed.helpers_jetstream import answered


async def _publish(urls: list[str], stream: str, start: int, count: int) -> None:
    nc = await nats.connect(servers=urls, connect_timeout=2, max_reconnect_attempts=-1)
    try:
        js = nc.jetstream(timeout=5)
        for i in range(start, start + count):
            # Resent with its id until stored: JetStream drops a repeat.
            headers = {"Nats-Msg-Id": f"m{i}"}
            await answered(lambda: js.publish(f"{stream}.x", str(i).encode(), headers=headers), f"m{i}")  # noqa: B023
    finally:
        await nc.close()


async def _read_all(urls: list[str], stream: str) -> list[int]:
    nc = await nats.connect(servers=urls, connect_timeout=2)
    try:
        js = nc.jetstream(timeout=5)
        info = await answered(lambda: js.stream_info(stream), "stream info")
        sub = await answered(
            lambda: js.pull_subscribe(f"{stream}.>", durable=None, stream=stream), "consumer"
        )
        got: list[int] = []
        while len(got) < info.state.messages:
            for msg in await answered(lambda: sub.fetch(100, timeout=5), f"messages after {len(got)}"):
                got.append(int(msg.data))
                await msg.ack()
        return got
    finally:
        await nc.close()


def test_single_server_stores_and_deduplicates(nats_server: NatsServer) -> None:
    async def run() -> list[int]:
        nc = await nats.connect(nats_server.url)
        try:
            await nc.jetstream().add_stream(StreamConfig(name="FIXTURE1", subjects=["FIXTURE1.>"]))
        finally:
            await nc.close()
        await _publish([nats_server.url], "FIXTURE1", 0, 5)
        await _publish([nats_server.url], "FIXTURE1", 3, 5)  # m3, m4 again: dropped by msg id
        return await _read_all([nats_server.url], "FIXTURE1")

    assert asyncio.run(run()) == list(range(8))


def test_replicated_stream_survives_a_killed_node(nats_cluster: NatsCluster) -> None:
    urls = nats_cluster.urls

    async def create() -> str:
        nc = await nats.connect(servers=urls)
        try:
            js = nc.jetstream(timeout=10)
            await js.add_stream(StreamConfig(name="R3", subjects=["R3.>"], num_replicas=3))
            info = await js.stream_info("R3")
            assert info.cluster is not None
            assert info.cluster.leader
            return info.cluster.leader
        finally:
            await nc.close()

    leader = asyncio.run(create())
    asyncio.run(_publish(urls, "R3", 0, 50))
    victim = next(n for n in nats_cluster.nodes if n.server_name == leader)
    victim.kill()  # the stream's leader: the other two elect a new one
    survivors = [n.url for n in nats_cluster.nodes if n.running]
    asyncio.run(_publish(survivors, "R3", 50, 50))
    assert asyncio.run(_read_all(survivors, "R3")) == list(range(100))


@pytest.mark.real
def test_a_port_taken_before_its_node_binds_it_starts_the_cluster_on_new_ports(tmp_path: Path) -> None:
    """The started nodes' own connections may take a later node's port (seen once in CI)."""
    cluster = NatsCluster(tmp_path / "cluster")
    taken = cluster.nodes[2].cluster_port
    assert taken is not None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        cluster.start()
        try:
            assert taken not in {n.cluster_port for n in cluster.nodes}
            assert all(n.running for n in cluster.nodes)
            assert cluster.formed()
        finally:
            cluster.close()
