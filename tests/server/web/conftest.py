"""A real server on a free port (uvicorn in a thread, SQLite, the shared influxd), tokens,
ingest through the real endpoint, and a headless Debian Chromium driven by Playwright."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, sync_playwright

from lobbywatch.clock import FixedClock
from lobbywatch.protocol.codec import to_dict
from lobbywatch.protocol.messages import Envelope
from lobbywatch.protocol.sequence import Stamper
from lobbywatch.services import Influxd
from server.alerts import AlertService
from server.app import create_app
from server.context import ServerContext
from server.core.config import InfluxConfig, ServerSettings
from server.core.security import create_token
from tests.conftest import launch_chromium
from tests.helpers_asgi import ThreadedAsgiServer

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "deploy" / "examples" / "telecom-hall.yaml"
ARTIFACTS = ROOT / "test-artifacts"


def write_hall(tmp: Path, site: str) -> Path:
    """The example telecom hall under ``site``, without notification channels (no network)."""
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["site"] = site
    data.pop("notifications", None)
    path = tmp / f"{site}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@dataclass
class LiveServer:
    """A started server: its URL, context, clock and one token per role."""

    app: FastAPI
    url: str
    clock: FixedClock
    site: str
    tokens: dict[str, str] = field(default_factory=dict)
    stampers: dict[str, Stamper] = field(default_factory=dict)
    server: ThreadedAsgiServer | None = None  # to stop it mid-test (the in-hall fallback)

    @property
    def alerts(self) -> AlertService:
        """The running alert service of the server's context."""
        ctx: ServerContext = self.app.state.ctx
        assert ctx.alerts is not None
        return ctx.alerts

    def make(self, cls: type[Any], source: str, **fields: Any) -> Any:
        st = self.stampers.get(source)
        if st is None:
            st = self.stampers[source] = Stamper(self.site, source, clock=self.clock)
        return st.make(cls, **fields)

    def ingest(self, messages: Sequence[Envelope], *, backlog_age_s: float = 0.2) -> dict[str, Any]:
        """POST a batch through the real ingest endpoint with the gateway token."""
        body = {
            "gateway": "gw-1",
            "site": self.site,
            "sent_at": self.clock.now().isoformat(),
            "backlog": {"count": len(messages), "bytes": 1000, "oldest_age_s": backlog_age_s},
            "messages": [to_dict(m) for m in messages],
        }
        r = httpx.post(
            f"{self.url}/api/v1/ingest",
            json=body,
            headers={"Authorization": f"Bearer {self.tokens['gateway']}"},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        result: dict[str, Any] = r.json()
        assert result["accepted"] == len(messages), result
        return result

    def api(self, method: str, path: str, role: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=10, **kw)


@pytest.fixture
def live_server(
    tmp_path: Path, clock: FixedClock, site_id: str, influxd: Influxd, influx_db: str
) -> Iterator[LiveServer]:
    settings = ServerSettings(
        sql_url=f"sqlite:///{tmp_path / 'server.sqlite3'}",
        influx=InfluxConfig(url=influxd.url, database=influx_db, flush_interval_s=0.2),
        halls=[write_hall(tmp_path, site_id)],
    )
    app = create_app(settings, clock)
    server = ThreadedAsgiServer(app, "web-test-server").start()
    live = LiveServer(app, server.url, clock, site_id, server=server)
    specs: dict[str, dict[str, Any]] = {
        "admin": {"role": "admin"},
        "manager": {"role": "manager", "sites": [site_id]},
        "display": {"role": "display", "sites": [site_id]},
        "gateway": {"role": "gateway", "sites": [site_id]},
        "manager_other": {"role": "manager", "sites": ["elsewhere"]},
    }
    with app.state.ctx.db.session() as session:
        for name, spec in specs.items():
            _row, plain = create_token(session, name=f"{name}-wang", created_at=clock.now(), **spec)
            assert plain is not None
            live.tokens[name] = plain
    try:
        yield live
    finally:
        server.stop()


@pytest.fixture(scope="package")  # closed after these tests: one sync Playwright at a time (tests/system)
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = launch_chromium(p)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="en-US")
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()  # closes the page's event streams before the server stops


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
