"""A real server (FastAPI TestClient, SQLite) with one hall, tokens and ingest, for the
alert tests that go through the HTTP API."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from lobbywatch.clock import FixedClock
from lobbywatch.protocol.codec import to_dict
from lobbywatch.protocol.messages import Envelope
from lobbywatch.protocol.sequence import Stamper
from server.alerts.service import AlertService
from server.app import create_app
from server.core.config import InfluxConfig, Role, ServerSettings
from server.core.security import create_token


@dataclass
class Served:
    app: FastAPI
    client: TestClient
    clock: FixedClock
    site: str
    tokens: dict[str, str]
    """gateway, manager (of the hall), stranger (a manager of another hall)."""
    stampers: dict[str, Stamper] = field(default_factory=dict)

    @property
    def alerts(self) -> AlertService:
        service: AlertService | None = self.app.state.ctx.alerts
        assert service is not None, "the server's context runs no alert service"
        return service

    def make(self, cls: type[Any], source: str, **fields: Any) -> Any:
        """A message of ``cls`` from ``source``, stamped in sequence."""
        stamper = self.stampers.setdefault(source, Stamper(self.site, source, clock=self.clock))
        return stamper.make(cls, **fields)

    def ingest(self, messages: Sequence[Envelope], backlog: int = 0, oldest_age_s: float = 0.1) -> Any:
        """Post a gateway batch (``backlog``: messages left behind it, the oldest this old);
        returns the ingest answer."""
        body: dict[str, Any] = {
            "gateway": "gw-1",
            "site": self.site,
            "sent_at": self.clock.now().isoformat(),
            "backlog": {"count": backlog or len(messages), "bytes": 300, "oldest_age_s": oldest_age_s},
            "messages": [to_dict(m) for m in messages],
        }
        answer = self.client.post(
            "/api/v1/ingest",
            content=json.dumps(body),
            headers={**self.auth("gateway"), "Content-Type": "application/json"},
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def get(self, path: str, who: str = "manager") -> httpx.Response:
        answer: httpx.Response = self.client.get(path, headers=self.auth(who))
        return answer


@contextmanager
def served(tmp_path: Path, clock: FixedClock, cfg: dict[str, Any], **settings: Any) -> Iterator[Served]:
    """The server with the hall ``cfg`` (a hall dict) and further ``settings``; its context
    starts the alert engine. Served again on the same ``tmp_path``, it finds the same SQL."""
    site = cfg["site"]
    hall_file = tmp_path / "hall.yaml"
    hall_file.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    server_settings = ServerSettings(
        sql_url=f"sqlite:///{tmp_path / 'server.sqlite3'}",
        influx=InfluxConfig(enabled=False),
        halls=[hall_file],
        **settings,
    )
    app = create_app(server_settings, clock)
    with TestClient(app) as client:
        tokens: dict[str, str] = {}
        people: list[tuple[str, Role, list[str]]] = [
            ("gateway", "gateway", [site]),
            ("manager", "manager", [site]),
            ("stranger", "manager", ["elsewhere"]),
        ]
        with app.state.ctx.db.session() as session:
            for who, role, sites in people:
                _row, token = create_token(session, name=who, role=role, sites=sites, created_at=clock.now())
                assert token is not None
                tokens[who] = token
        yield Served(app, client, clock, site, tokens)
