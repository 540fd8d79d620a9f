"""``lobbywatch server run --config`` as its own process, for the tests of the real thing:
a hall, bootstrap tokens and a server.yaml in a temporary folder, the process started and
waited for (``/healthz``), stopped at the end."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from lobbywatch.services import free_port, wait_until

from .conftest import write_hall

TOKEN_NAMES = {"admin": "ops", "gateway": "gw", "display": "tv"}
"""The bootstrap token's name for each role (the gateway's is the batches' ``gateway``)."""


@dataclass(frozen=True)
class ServerRun:
    """A running ``server run`` process: its base URL, its SQLite file and its log."""

    base: str
    sqlite: Path
    log: Path


@contextmanager
def server_run(tmp_path: Path, site: str, tokens: Mapping[str, str], extra: str = "") -> Iterator[ServerRun]:
    """Start ``lobbywatch server run`` on ``site``'s hall with SQLite, no InfluxDB and a
    bootstrap token per role in ``tokens`` (role: token; the non-admin ones for ``site``
    only), ``extra`` appended to its server.yaml; wait until it answers, stop it at the end."""
    hall = write_hall(tmp_path, site)
    bootstrap = []
    for role, value in tokens.items():
        (tmp_path / f"{role}.token").write_text(value + "\n")
        sites = "" if role == "admin" else f", sites: [{site}]"
        bootstrap.append(f"  - {{name: {TOKEN_NAMES[role]}, role: {role}, token_file: {role}.token{sites}}}")
    port = free_port()
    config = tmp_path / "server.yaml"
    config.write_text(
        f"listen: {{host: 127.0.0.1, port: {port}}}\n"
        "sql_url: sqlite:///server.sqlite3\n"
        "influx: {enabled: false}\n"
        f"halls: [{hall.name}]\n"
        "bootstrap_tokens:\n" + "\n".join(bootstrap) + "\n" + extra
    )
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "system", "server", "run", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    run = ServerRun(f"http://127.0.0.1:{port}", tmp_path / "server.sqlite3", log)
    try:
        assert wait_until(lambda: httpx.get(f"{run.base}/healthz", timeout=1).status_code == 200, 60), (
            log.read_text()
        )
        yield run
    finally:
        proc.terminate()
        proc.wait(30)
