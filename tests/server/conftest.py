"""Helpers for server tests: a hall config per test, a started app, tokens per role, messages."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from lobbywatch.clock import FixedClock
from lobbywatch.protocol.codec import to_dict
from lobbywatch.protocol.messages import Envelope
from lobbywatch.protocol.sequence import Stamper
from server.app import create_app
from server.context import ServerContext
from server.core.config import InfluxConfig, ServerSettings
from server.core.security import create_token
from server.storage.db import Database, run_migrations

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"
VENDOR_A = "huaxin-maint"  # kiosk-topup-1, kiosk-bill-1 in the telecom hall
VENDOR_B = "zhongtian-svc"  # kiosk-sim-1 and the counter terminals


def write_hall(tmp: Path, site: str, example: str = "telecom-hall.yaml") -> Path:
    text = (EXAMPLES / example).read_text(encoding="utf-8")
    original = next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("site:"))
    # No notification channels: these tests are about the server core, not alert delivery.
    lines, skipping = [], False
    for line in text.replace(f"site: {original}", f"site: {site}").splitlines():
        if line and not line.startswith((" ", "#")):
            skipping = line.startswith("notifications:")
        if not skipping:
            lines.append(line)
    path = tmp / f"{site}.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@dataclass
class Server:
    app: FastAPI
    client: TestClient
    ctx: ServerContext
    clock: FixedClock
    site: str
    other_site: str
    tokens: dict[str, str] = field(default_factory=dict)
    stampers: dict[tuple[str, str], Stamper] = field(default_factory=dict)
    stopped: bool = False

    def stop(self) -> None:
        """Shut the server down (lifespan end: rollups flushed, writer stopped)."""
        if not self.stopped:
            self.stopped = True
            self.client.__exit__(None, None, None)

    def make(self, cls: type[Any], source: str, *, site: str | None = None, **fields: Any) -> Any:
        key = (site or self.site, source)
        st = self.stampers.get(key)
        if st is None:
            st = self.stampers[key] = Stamper(key[0], source, clock=self.clock)
        return st.make(cls, **fields)

    def batch_body(
        self,
        messages: list[Envelope | dict[str, Any]],
        *,
        site: str | None = None,
        backlog: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return {
            "gateway": "gw-1",
            "site": site or self.site,
            "sent_at": self.clock.now().isoformat(),
            "backlog": backlog or {"count": len(messages), "bytes": 1000, "oldest_age_s": 0.5},
            "messages": [m if isinstance(m, dict) else to_dict(m) for m in messages],
        }

    def send(
        self,
        messages: list[Envelope | dict[str, Any]],
        *,
        token: str = "gateway",
        site: str | None = None,
        gzip_body: bool = False,
        backlog: dict[str, Any] | None = None,
    ) -> httpx.Response:
        body = json.dumps(self.batch_body(messages, site=site, backlog=backlog)).encode()
        headers = {"Authorization": f"Bearer {self.tokens[token]}", "Content-Type": "application/json"}
        if gzip_body:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        resp: httpx.Response = self.client.post("/api/v1/ingest", content=body, headers=headers)
        return resp

    def get(self, path: str, role: str = "admin", **params: Any) -> httpx.Response:
        resp: httpx.Response = self.client.get(
            path, params=params, headers={"Authorization": f"Bearer {self.tokens[role]}"}
        )
        return resp

    def post(self, path: str, role: str = "admin", body: Any = None) -> httpx.Response:
        resp: httpx.Response = self.client.post(
            path, json=body, headers={"Authorization": f"Bearer {self.tokens[role]}"}
        )
        return resp


def add_tokens(server: Server) -> None:
    specs: dict[str, dict[str, Any]] = {
        "admin": {"role": "admin"},
        "manager": {"role": "manager", "sites": [server.site]},
        "manager_other": {"role": "manager", "sites": [server.other_site]},
        "vendor_a": {"role": "vendor", "vendor": VENDOR_A},
        "vendor_b": {"role": "vendor", "vendor": VENDOR_B},
        "display": {"role": "display", "sites": [server.site]},
        "display_other": {"role": "display", "sites": [server.other_site]},
        "gateway": {"role": "gateway", "sites": [server.site]},
        "gateway_other": {"role": "gateway", "sites": [server.other_site]},
    }
    with server.ctx.db.session() as session:
        for name, spec in specs.items():
            _row, plain = create_token(session, name=name, created_at=server.clock.now(), **spec)
            assert plain is not None
            server.tokens[name] = plain


@pytest.fixture
def make_server(tmp_path: Path, clock: FixedClock, site_id: str) -> Iterator[Callable[..., Server]]:
    """Factory: ``make_server(sql_url=None, influx=None)`` -> a started :class:`Server`."""
    servers: list[Server] = []

    def make(sql_url: str | None = None, influx: InfluxConfig | None = None, **settings: Any) -> Server:
        other = f"{site_id}-b"
        halls = [write_hall(tmp_path, site_id), write_hall(tmp_path, other, "bank-branch.yaml")]
        cfg = ServerSettings(
            sql_url=sql_url or f"sqlite:///{tmp_path / 'server.sqlite3'}",
            influx=influx or InfluxConfig(enabled=False),
            halls=halls,
            **settings,
        )
        app = create_app(cfg, clock)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        server = Server(app, client, app.state.ctx, clock, site_id, other)
        servers.append(server)
        add_tokens(server)
        return server

    yield make
    for s in servers:
        s.stop()


@pytest.fixture
def server(make_server: Callable[..., Server]) -> Server:
    """A started server on SQLite, InfluxDB writing off (lines stay in the spool)."""
    return make_server()


@pytest.fixture
def db(sql_url: str) -> Iterator[Database]:
    """A database (SQLite or PostgreSQL, as ``sql_url``) with every migration applied."""
    database = Database(sql_url)
    run_migrations(database)
    yield database
    database.dispose()
