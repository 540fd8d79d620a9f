"""Token expiry and revocation against a real server: live streams (live state, alerts) end
when their token is revoked (API or CLI) or expires, on the server's own clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
from typer.testing import CliRunner

from lobbywatch.protocol.enums import Presence
from lobbywatch.protocol.messages import DeviceStatus
from system.cli import app as cli_app

from .conftest import LiveServer
from .test_api import raise_fault


def new_token(s: LiveServer, **body: Any) -> dict[str, Any]:
    spec = {"name": "lobby tv", "role": "display", "sites": [s.site], **body}
    r = s.api("POST", "/api/v1/admin/tokens", "admin", json=spec)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


def follow(s: LiveServer, path: str, token: str, between: Callable[[], None]) -> list[str]:
    """Read the stream's events: after the first, call ``between``; returns the data lines
    seen, and fails unless the server then ends the stream by itself."""
    data: list[str] = []
    with httpx.stream("GET", s.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=20) as r:
        assert r.status_code == 200, r.read()
        lines: Iterator[str] = r.iter_lines()
        for line in lines:
            if line.startswith("data: "):
                data.append(line)
                if len(data) == 1:
                    between()
    return data


def poke(s: LiveServer) -> None:
    """Something changes in the hall (wakes every stream of it)."""
    s.ingest([s.make(DeviceStatus, "term-c1", state=Presence.ONLINE)])
    raise_fault(s)


def test_revoking_a_token_ends_its_streams(live_server: LiveServer) -> None:
    s = live_server
    for path in (f"/api/v1/sites/{s.site}/live/stream", f"/api/v1/alerts/stream?site={s.site}"):
        token = new_token(s)

        def revoke(token_id: int = token["id"]) -> None:
            assert s.api("DELETE", f"/api/v1/admin/tokens/{token_id}", "admin").status_code == 200
            s.clock.advance(16)  # past the keep-alive interval: the stream checks its token
            poke(s)

        assert len(follow(s, path, token["token"], revoke)) == 1  # ended, no snapshot after it
        refused = httpx.get(s.url + path, headers={"Authorization": f"Bearer {token['token']}"})
        assert (refused.status_code, refused.json()["message"]) == (401, "unknown or revoked token")


def test_a_token_revoked_by_the_cli_ends_its_stream(live_server: LiveServer, tmp_path: Any) -> None:
    s = live_server
    token = new_token(s)
    config = tmp_path / "cli.yaml"
    config.write_text(f"sql_url: sqlite:///{tmp_path / 'server.sqlite3'}\ninflux: {{enabled: false}}\n")

    def revoke() -> None:
        result = CliRunner().invoke(
            cli_app, ["server", "token", "revoke", "--config", str(config), str(token["id"])]
        )
        assert result.exit_code == 0, result.output
        s.clock.advance(16)
        poke(s)

    assert len(follow(s, f"/api/v1/sites/{s.site}/live/stream", token["token"], revoke)) == 1
    missing = CliRunner().invoke(cli_app, ["server", "token", "revoke", "--config", str(config), "999"])
    assert (missing.exit_code, "no token 999" in missing.output) == (1, True)


def test_an_expiring_token_works_until_then_and_its_stream_ends(live_server: LiveServer) -> None:
    s = live_server
    token = new_token(s, ttl_s=60)
    assert token["expires_at"] is not None
    live = f"/api/v1/sites/{s.site}/live"
    headers = {"Authorization": f"Bearer {token['token']}"}
    s.clock.advance(30)
    seen: list[int] = []

    def expire() -> None:
        s.clock.advance(28)  # 58 s: still good, and now in the 5-s cache of verified tokens
        seen.append(httpx.get(s.url + live, headers=headers).status_code)
        s.clock.advance(3)  # 61 s: expired, though cached 3 s ago
        seen.append(httpx.get(s.url + live, headers=headers).status_code)
        poke(s)

    data = follow(s, live + "/stream", token["token"], expire)
    assert seen == [200, 401]
    assert len(data) == 1  # no snapshot after the expiry
    refused = httpx.get(s.url + live, headers=headers)
    assert (refused.status_code, refused.json()["message"]) == (401, "token expired")
