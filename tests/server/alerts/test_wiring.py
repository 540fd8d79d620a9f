"""The alert engine of a real server (started by its context): ingest batch in, stored alert and
webhook out; started and stopped with the app's lifespan, once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from lobbywatch.clock import FixedClock
from lobbywatch.protocol.enums import AlertState
from lobbywatch.protocol.messages import DeviceEvent
from lobbywatch.services import wait_until
from server.alerts.forecast import ServerForecast
from server.alerts.store import SqlAlertStore
from tests.server.conftest import Server

from .helpers_hall import hooked_hall_dict
from .helpers_receivers import HttpReceiver, start_http
from .helpers_server import served

pytestmark = pytest.mark.real


def test_ingested_fault_reaches_the_webhook_and_the_store(
    tmp_path: Path, clock: FixedClock, site_id: str
) -> None:
    http: HttpReceiver = start_http()
    try:
        cfg = hooked_hall_dict(site_id, f"{http.url}/hook")
        with served(tmp_path, clock, cfg) as s:
            client, ctx = s.client, s.app.state.ctx
            service = ctx.alerts  # started by the context, with the app's lifespan
            assert service is not None
            assert ServerForecast(ctx.db, ctx.clock).forecast(site_id) == []  # no history: no peaks
            s.ingest([s.make(DeviceEvent, "k1", event="fault_raised", code="PRN_PAPER_OUT", unusable=True)])
            (req,) = http.wait_for("/hook")
            (sent,) = req.json()["alerts"]
            assert (sent["kind"], sent["device"], sent["vendor"]) == ("device_fault", "k1", "v-one")
            store = SqlAlertStore(ctx.db.engine)
            stored = store.get(sent["id"])
            assert stored is not None
            assert stored.state == AlertState.FIRING
            history = s.get(f"/api/v1/sites/{site_id}/alerts/history")
            assert history.status_code == 200, history.text
            assert [a["id"] for a in history.json()] == [sent["id"]]
            assert history.json()[0]["title"]["zh-CN"] == "设备故障：k1"
            denied = s.get(f"/api/v1/sites/{site_id}/alerts/history", "stranger")
            assert denied.status_code == 404  # another hall: as if missing
            acked = service.engine.acknowledge(sent["id"], by="wang", comment="notice posted")
            assert acked.state == AlertState.ACKNOWLEDGED
            acked_row = store.get(sent["id"])
            assert acked_row is not None
            assert acked_row.state == AlertState.ACKNOWLEDGED
            assert acked_row.ack_comment == "notice posted"
            log_url = f"/api/v1/alerts/{sent['id']}/deliveries"
            assert wait_until(lambda: bool(s.get(log_url).json()), 5)
            log = s.get(log_url)
            assert (log.json()[0]["channel"], log.json()[0]["event"], log.json()[0]["ok"]) == (
                "hook",
                "fired",
                True,
            )
            assert s.get("/api/v1/alerts/nope1234/deliveries").status_code == 404
            window = {
                "devices": ["k1"],
                "starts": clock.now().isoformat(),
                "ends": (clock.now() + timedelta(hours=1)).isoformat(),
                "reason": "vendor on site",
            }
            added = client.post(f"/api/v1/sites/{site_id}/silences", json=window, headers=s.auth("manager"))
            assert added.status_code == 201, added.text
            bad = client.post(
                f"/api/v1/sites/{site_id}/silences",
                json={**window, "ends": window["starts"]},
                headers=s.auth("manager"),
            )
            assert bad.status_code == 422
    finally:
        http.server.shutdown()
        http.server.server_close()


def test_the_app_lifespan_starts_and_stops_one_alert_service(make_server: Callable[..., Server]) -> None:
    server = make_server()  # create_app and its lifespan, nothing else
    ctx = server.ctx
    service = ctx.alerts
    assert service is not None
    assert service.running
    assert ctx.bus.subscribers() == [service.on_batch]  # one engine on the bus, nothing else
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
    assert ctx.bus.subscribers() == []


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
