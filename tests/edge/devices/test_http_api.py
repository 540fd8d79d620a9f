"""The kiosk agent's local HTTP API refuses what a web page could send it: another Host or
Origin (cross-site requests, DNS rebinding) and bodies that are not declared JSON."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any, cast

import pytest

from edge.devices.agent import DeviceAgent
from edge.devices.http_api import serve


class _Agent:
    """Only what the gate in front of the routes reaches: the status snapshot."""

    def snapshot(self) -> dict[str, Any]:
        return {"ok": True}


@pytest.fixture
def port() -> Iterator[int]:
    server = serve(cast(DeviceAgent, _Agent()))
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def call(port: int, method: str, headers: dict[str, str], body: bytes | None = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest(method, "/v1/status" if method == "GET" else "/v1/fault", skip_host=True)
        for key, value in {**headers, "Content-Length": str(len(body or b""))}.items():
            conn.putheader(key, value)
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Host": "127.0.0.1:1"}, 200),
        ({"Host": "localhost"}, 200),
        ({"Host": "[::1]:8080"}, 200),
        ({"Host": "localhost:1", "Origin": "http://localhost:3000"}, 200),
        ({"Host": "evil.example:80"}, 403),  # DNS rebinding: the page's name, our address
        ({}, 403),
        ({"Host": "127.0.0.1", "Origin": "https://evil.example"}, 403),
        ({"Host": "127.0.0.1", "Origin": "null"}, 403),
    ],
)
def test_only_this_machine_may_call(port: int, headers: dict[str, str], status: int) -> None:
    got, body = call(port, "GET", headers)
    assert got == status
    if status == 403:
        assert "not this machine" in body["error"]
        assert "本机" in body["error_zh"]


@pytest.mark.parametrize("ctype", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_bodies_must_be_declared_json(port: int, ctype: str | None) -> None:
    headers = {"Host": "127.0.0.1"} | ({"Content-Type": ctype} if ctype else {})
    status, body = call(port, "POST", headers, b'{"code": "PRN_JAM"}')
    assert status == 415
    assert "application/json" in body["error"]
