"""The real thing: `lobbywatch server run --config`, a gateway batch, the SSE stream; CLI tokens."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from lobbywatch.clock import SystemClock
from lobbywatch.config.loader import ConfigError
from lobbywatch.protocol.codec import to_dict
from lobbywatch.protocol.enums import ZoneKind
from lobbywatch.protocol.messages import ZoneState
from lobbywatch.protocol.sequence import Stamper
from server.core.config import load_server_settings
from server.core.security import hash_token
from server.storage.db import Database
from server.storage.models import ApiToken
from system.cli import app as cli_app

from .helpers_server_process import server_run


@pytest.fixture
def running(tmp_path: Path, site_id: str) -> Iterator[tuple[str, dict[str, str], str]]:
    tokens = {"admin": "lw_admin-secret-for-tests", "gateway": "lw_gw-secret", "display": "lw_tv-secret"}
    with server_run(tmp_path, site_id, tokens) as server:
        yield server.base, tokens, site_id


@pytest.mark.real
def test_server_run_ingest_and_sse(running: tuple[str, dict[str, str], str]) -> None:
    base, tokens, site = running
    stamper = Stamper(site, "cam-counters", clock=SystemClock())

    def zone(occupancy: float) -> dict[str, object]:
        return to_dict(
            stamper.make(
                ZoneState,
                zone="queue-main",
                kind=ZoneKind.QUEUE,
                occupancy=occupancy,
                count=int(occupancy),
                queue_length=int(occupancy),
                entered_total=1,
                exited_total=0,
            )
        )

    def batch(messages: list[dict[str, object]]) -> httpx.Response:
        body = {
            "gateway": "gw",
            "site": site,
            "sent_at": SystemClock().now().isoformat(),
            "backlog": {"count": 1, "bytes": 100, "oldest_age_s": 0.1},
            "messages": messages,
        }
        return httpx.post(
            f"{base}/api/v1/ingest", json=body, headers={"Authorization": f"Bearer {tokens['gateway']}"}
        )

    assert batch([zone(2)]).json()["accepted"] == 1
    headers = {"Authorization": f"Bearer {tokens['display']}"}
    with httpx.stream("GET", f"{base}/api/v1/sites/{site}/live/stream", headers=headers, timeout=20) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        events = resp.iter_lines()
        first = next(line for line in events if line.startswith("data: "))
        assert json.loads(first[6:])["zones"][0]["occupancy"] == 2
        assert batch([zone(5)]).json()["accepted"] == 1
        second = next(line for line in events if line.startswith("data: "))
        snapshot = json.loads(second[6:])
        assert snapshot["queues"][0]["queue_length"] == 5
        assert snapshot["data"] == "live"
    by_query = f"{base}/api/v1/sites/{site}/live/stream?access_token={tokens['display']}"
    with httpx.stream("GET", by_query, timeout=20) as resp:
        assert resp.status_code == 200
        assert next(line for line in resp.iter_lines() if line.startswith("data: "))
    with httpx.stream("GET", f"{base}/api/v1/sites/{site}/live/stream?access_token=nope", timeout=20) as resp:
        assert resp.status_code == 401
    docs = httpx.get(f"{base}/docs")
    assert docs.status_code == 200
    forbidden = httpx.get(f"{base}/api/v1/admin/tokens", headers=headers)
    assert forbidden.status_code == 403
    assert "role display" in forbidden.json()["message"]


def test_cli_token_create_and_config_errors(tmp_path: Path) -> None:
    config = tmp_path / "server.yaml"
    config.write_text("sql_url: sqlite:///s.sqlite3\ninflux: {enabled: false}\n")
    runner = CliRunner()
    result = runner.invoke(
        cli_app,
        [
            "server",
            "token",
            "create",
            "--config",
            str(config),
            "--role",
            "vendor",
            "--name",
            "v",
            "--vendor",
            "acme",
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip().startswith("lw_")
    common = ["server", "token", "create", "--config", str(config), "--role", "admin", "--name", "a"]
    expiring = runner.invoke(cli_app, [*common, "--ttl", "12h"])
    assert expiring.exit_code == 0, expiring.output
    settings = load_server_settings(config)
    db = Database(settings.sql_url)
    with db.session() as session:
        row = session.scalar(
            select(ApiToken).where(ApiToken.token_hash == hash_token(expiring.output.strip()))
        )
        assert row is not None
        assert row.expires_at is not None
        assert row.expires_at - row.created_at == timedelta(hours=12)
    db.dispose()
    never_good = runner.invoke(cli_app, [*common, "--ttl", "soon"])
    assert never_good.exit_code == 2
    assert "invalid: ttl:" in never_good.output
    bad = runner.invoke(
        cli_app, ["server", "token", "create", "--config", str(config), "--role", "gateway", "--name", "g"]
    )
    assert bad.exit_code == 2
    assert "exactly one site" in bad.output
    config.write_text("sql_url: sqlite:///s.sqlite3\nlisten: {port: 99999}\n")
    broken = runner.invoke(cli_app, ["server", "migrate", "--config", str(config)])
    assert broken.exit_code == 2
    assert "server.yaml:2 listen.port" in broken.output


def test_environment_overrides_are_validated_and_named(tmp_path: Path) -> None:
    config = tmp_path / "server.yaml"
    config.write_text("sql_url: sqlite:///s.sqlite3\ninflux: {enabled: false, token_file: t}\n")
    settings = load_server_settings(config).with_env(
        {"LOBBYWATCH_SERVER_INFLUX_URL": "https://influx.example:8086", "LOBBYWATCH_SERVER_SQL_URL": ""}
    )
    assert settings.influx.url == "https://influx.example:8086"
    assert settings.sql_url.endswith("/s.sqlite3")  # an empty variable overrides nothing
    assert settings.influx.token_file == tmp_path / "t"  # the rest of the file is kept
    runner = CliRunner()
    broken = runner.invoke(
        cli_app,
        ["server", "migrate", "--config", str(config)],
        env={"LOBBYWATCH_SERVER_INFLUX_URL": "influx.example:8086"},
    )
    assert broken.exit_code == 2
    assert "LOBBYWATCH_SERVER_INFLUX_URL influx.url" in broken.output


def test_an_old_absent_after_s_says_which_limit_took_its_place(tmp_path: Path) -> None:
    """ingest.absent_after_s was a second limit for "the hall's data is absent"; the hall's
    gateway_silence_s is the one limit now, and a file that still sets the old one says so."""
    config = tmp_path / "server.yaml"
    config.write_text("sql_url: sqlite:///s.sqlite3\ningest:\n  absent_after_s: 120\n")
    with pytest.raises(ConfigError) as err:
        load_server_settings(config)
    assert "server.yaml:2 ingest" in str(err.value)
    assert "absent_after_s was removed" in str(err.value)
    assert "notifications.policy.gateway_silence_s" in str(err.value)
    assert "已移除" in str(err.value)
