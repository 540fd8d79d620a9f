"""The alert engine of a real server (started by its context): ingest batch in, stored alert and
webhook out; started and stopped with the app's lifespan, once."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from lobbywatch.clock import FixedClock
from lobbywatch.protocol.codec import to_dict
from lobbywatch.protocol.enums import AlertState
from lobbywatch.protocol.messages import DeviceEvent
from lobbywatch.protocol.sequence import Stamper
from lobbywatch.services import wait_until
from server.alerts.forecast import ServerForecast
from server.alerts.store import SqlAlertStore
from server.app import create_app
from server.core.config import InfluxConfig, ServerSettings
from server.core.security import create_token
from tests.server.conftest import Server

from .helpers_hall import hall_dict
from .helpers_receivers import HttpReceiver, start_http

pytestmark = pytest.mark.real


def test_ingested_fault_reaches_the_webhook_and_the_store(
    tmp_path: Path, clock: FixedClock, site_id: str
) -> None:
    http: HttpReceiver = start_http()
    try:
        cfg = hall_dict(
            site_id,
            notifications={
                "channels": [{"name": "hook", "type": "webhook", "url": f"{http.url}/hook"}],
                "routes": [{"channels": ["hook"]}],
                "escalation": [],
            },
        )
        hall_file = tmp_path / "hall.yaml"
        hall_file.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
        settings = ServerSettings(
            sql_url=f"sqlite:///{tmp_path / 'server.sqlite3'}",
            influx=InfluxConfig(enabled=False),
            halls=[hall_file],
        )
        app = create_app(settings, clock)
        with TestClient(app) as client:
            ctx = app.state.ctx
            with ctx.db.session() as session:
                _row, token = create_token(
                    session, name="gw", role="gateway", sites=[site_id], created_at=clock.now()
                )
                _row, manager = create_token(
                    session, name="wang", role="manager", sites=[site_id], created_at=clock.now()
                )
                _row, stranger = create_token(
                    session, name="li", role="manager", sites=["elsewhere"], created_at=clock.now()
                )
            service = ctx.alerts  # started by the context, with the app's lifespan
            assert service is not None
            assert ServerForecast(ctx.db, ctx.clock).forecast(site_id) == []  # no history: no peaks
            event = Stamper(site_id, "k1", clock=clock).make(
                DeviceEvent, event="fault_raised", code="PRN_PAPER_OUT", unusable=True
            )
            body: dict[str, Any] = {
                "gateway": "gw-1",
                "site": site_id,
                "sent_at": clock.now().isoformat(),
                "backlog": {"count": 1, "bytes": 300, "oldest_age_s": 0.1},
                "messages": [to_dict(event)],
            }
            answer = client.post(
                "/api/v1/ingest",
                content=json.dumps(body),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            assert answer.status_code == 200, answer.text
            (req,) = http.wait_for("/hook")
            (sent,) = req.json()["alerts"]
            assert (sent["kind"], sent["device"], sent["vendor"]) == ("device_fault", "k1", "v-one")
            store = SqlAlertStore(ctx.db.engine)
            stored = store.get(sent["id"])
            assert stored is not None
            assert stored.state == AlertState.FIRING
            history = client.get(f"/api/v1/sites/{site_id}/alerts/history", headers=_auth(manager))
            assert history.status_code == 200, history.text
            assert [a["id"] for a in history.json()] == [sent["id"]]
            assert history.json()[0]["title"]["zh-CN"] == "设备故障：k1"
            denied = client.get(f"/api/v1/sites/{site_id}/alerts/history", headers=_auth(stranger))
            assert denied.status_code == 403
            acked = service.engine.acknowledge(sent["id"], by="wang", comment="notice posted")
            assert acked.state == AlertState.ACKNOWLEDGED
            acked_row = store.get(sent["id"])
            assert acked_row is not None
            assert acked_row.state == AlertState.ACKNOWLEDGED
            assert acked_row.ack_comment == "notice posted"
            log_url = f"/api/v1/alerts/{sent['id']}/deliveries"
            assert wait_until(lambda: bool(client.get(log_url, headers=_auth(manager)).json()), 5)
            log = client.get(log_url, headers=_auth(manager))
            assert (log.json()[0]["channel"], log.json()[0]["event"], log.json()[0]["ok"]) == (
                "hook",
                "fired",
                True,
            )
            assert client.get("/api/v1/alerts/nope1234/deliveries", headers=_auth(manager)).status_code == 404
            window = {
                "devices": ["k1"],
                "starts": clock.now().isoformat(),
                "ends": (clock.now() + timedelta(hours=1)).isoformat(),
                "reason": "vendor on site",
            }
            added = client.post(f"/api/v1/sites/{site_id}/silences", json=window, headers=_auth(manager))
            assert added.status_code == 201, added.text
            bad = client.post(
                f"/api/v1/sites/{site_id}/silences",
                json={**window, "ends": window["starts"]},
                headers=_auth(manager),
            )
            assert bad.status_code == 422
    finally:
        http.server.shutdown()
        http.server.server_close()


def _auth(token: str | None) -> dict[str, str]:
    assert token is not None
    return {"Authorization": f"Bearer {token}"}


def test_the_app_lifespan_starts_and_stops_one_alert_service(make_server: Callable[..., Server]) -> None:
    server = make_server()  # create_app and its lifespan, nothing else
    ctx = server.ctx
    service = ctx.alerts
    assert service is not None
    assert service.running
    assert ctx.bus._subscribers == [service.on_batch]  # one engine on the bus, nothing else
    listed = server.get("/api/v1/alerts", "manager")
    assert listed.status_code == 200, listed.text
    assert listed.json() == []
    fault = server.make(DeviceEvent, "kiosk-topup-1", event="fault_raised", code="PRN_OUT", unusable=True)
    assert server.send([fault]).status_code == 200
    # one alert, stored once (a second engine on the same store would raise it again)
    assert [a["kind"] for a in server.get("/api/v1/alerts", "manager").json()] == ["device_fault"]
    history = server.get(f"/api/v1/sites/{server.site}/alerts/history", "manager")
    assert [a["kind"] for a in history.json()] == ["device_fault"]
    server.stop()
    assert ctx.alerts is None
    assert not service.running
    assert ctx.bus._subscribers == []


def test_alerts_routes_answer_503_without_an_alert_service(make_server: Callable[..., Server]) -> None:
    server = make_server()
    service = server.ctx.alerts
    assert service is not None
    service.stop()
    server.ctx.alerts = None  # as in a context built with_alerts=False
    for path in ("/api/v1/alerts", f"/api/v1/sites/{server.site}/alerts/history"):
        answer = server.get(path, "manager")
        assert answer.status_code == 503, answer.text
        assert answer.json()["message"] == "the alert engine is not running"
