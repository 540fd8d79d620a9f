"""What the gateway answers for the in-hall wall (gateway/wall_http.py) and what it keeps
retained for it (gateway/downlink.py, ``open_alert_copy``), on their own."""

from __future__ import annotations

import json

import pytest

from gateway.downlink import open_alert_copy
from gateway.wall_http import answer
from lobbywatch.clock import FixedClock
from lobbywatch.protocol.enums import AlertState, DeviceCommandKind, Severity
from lobbywatch.protocol.messages import AlertNotice, DeviceCommand, LocalizedText
from lobbywatch.protocol.sequence import Stamper
from lobbywatch.protocol.topics import open_alert_topic, parse_topic
from lobbywatch.web import PAGE_HEADERS, WALL_HEADERS, asset

pytestmark = pytest.mark.unit
SITE = "h1"
CLOCK = FixedClock.at("2026-11-23T01:30:00Z")


def test_the_wall_of_its_own_hall_and_its_files_with_the_servers_headers() -> None:
    status, body, headers = answer(SITE, f"/wall/{SITE}?lang=en&hall=ws://10.0.0.2:9001")
    assert (status, body) == (200, asset("wall.html"))
    assert headers == {**WALL_HEADERS, "Content-Type": "text/html; charset=utf-8"}
    status, body, headers = answer(SITE, "/web/static/wall-hall.js")
    assert (status, body) == (200, asset("wall-hall.js"))
    assert headers == {**PAGE_HEADERS, "Content-Type": "text/javascript; charset=utf-8"}
    assert "ws:" not in headers["Content-Security-Policy"]  # only the wall may open a WebSocket
    status, body, headers = answer(SITE, f"/api/v1/web/sites/{SITE}/layout", '{"site": "h1"}')
    assert (status, body, headers["Content-Type"]) == (200, b'{"site": "h1"}', "application/json")
    assert answer(SITE, f"/api/v1/web/sites/{SITE}/layout")[0] == 404  # none given
    for path in ("/wall/h2", "/staff", "/guide/h1", "/web/static/../x.js", "/web/static/nope.css", "/"):
        status, _body, headers = answer(SITE, path)
        assert status == 404, path
        assert headers["X-Frame-Options"] == "DENY"


def _notice(state: AlertState) -> AlertNotice:
    text = LocalizedText.model_validate({"en": "Kiosk fault", "zh-CN": "设备故障"})
    return Stamper(SITE, "server-alerts", clock=CLOCK).make(
        AlertNotice,
        alert_id="alert-0001",
        kind="device_fault",
        severity=Severity.WARNING,
        state=state,
        title=text,
        body=text,
    )


def test_an_open_alert_is_kept_retained_on_its_own_topic_and_cleared_when_resolved() -> None:
    topic = open_alert_topic(SITE, "alert-0001")
    for state in (AlertState.FIRING, AlertState.ACKNOWLEDGED):
        copy = open_alert_copy(_notice(state))
        assert copy is not None
        assert copy[0] == topic
        assert json.loads(copy[1])["state"] == state
    assert open_alert_copy(_notice(AlertState.RESOLVED)) == (topic, b"")
    command = Stamper(SITE, "server-commands", clock=CLOCK).make(
        DeviceCommand, device="k1", command=DeviceCommandKind.PING
    )
    assert open_alert_copy(command) is None
    info = parse_topic(topic)
    assert info is not None
    assert (info.site, info.branch, info.leaf, info.key) == (SITE, "downlink", "alert", "alert-0001")
