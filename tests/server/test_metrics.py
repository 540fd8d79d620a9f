"""The server's ``/metrics``: the key series after some traffic, and ``promtool check metrics``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from lobbywatch.clock import FixedClock
from lobbywatch.protocol.messages import DeviceEvent
from lobbywatch.services import Influxd, wait_until
from server.app import create_app
from server.core.config import InfluxConfig, ServerSettings
from server.core.security import create_token
from server.metrics import UNMATCHED
from tests.helpers_asgi import ThreadedAsgiServer
from tests.helpers_metrics import promtool_check, samples, value
from tests.server.alerts.helpers_hall import hooked_hall_dict

from .alerts.helpers_receivers import start_http
from .alerts.helpers_server import served
from .conftest import Server, write_hall


@pytest.mark.real
def test_ingest_alerts_and_requests_are_counted_and_promtool_accepts_the_text(
    tmp_path: Path, clock: FixedClock, site_id: str
) -> None:
    http = start_http()
    try:
        cfg = hooked_hall_dict(site_id, f"{http.url}/hook")
        with served(tmp_path, clock, cfg) as s:
            fault = s.make(DeviceEvent, "k1", event="fault_raised", code="PRN_PAPER_OUT", unusable=True)
            s.ingest([fault])
            s.ingest([fault])  # sent again: a duplicate
            http.wait_for("/hook")
            assert wait_until(lambda: s.alerts.dispatcher.wait_idle(0.1), 5)
            assert s.get("/api/v1/nothing-here").status_code == 404
            scraped = s.client.get("/metrics")  # no token: Prometheus scrapes without one
            assert scraped.status_code == 200
            assert scraped.headers["content-type"].startswith("text/plain")
            text = scraped.text
    finally:
        http.server.shutdown()
        http.server.server_close()
    found = samples(text)
    assert value(found, "lobbywatch_server_ingest_batches_total") == 2
    assert value(found, "lobbywatch_server_ingest_messages_total", outcome="accepted") == 1
    assert value(found, "lobbywatch_server_ingest_messages_total", outcome="duplicate") == 1
    assert value(found, "lobbywatch_server_ingest_messages_total", outcome="rejected") == 0
    ingest = {"route": "/api/v1/ingest", "method": "POST", "status": "2xx"}
    assert value(found, "lobbywatch_server_http_request_duration_seconds_count", **ingest) == 2
    unmatched = {"route": UNMATCHED, "method": "GET", "status": "4xx"}
    assert value(found, "lobbywatch_server_http_request_duration_seconds_count", **unmatched) == 1
    assert value(found, "lobbywatch_server_alert_messages_total") >= 1
    assert value(found, "lobbywatch_server_alert_fired_total") == 1
    assert value(found, "lobbywatch_server_alert_evaluation_duration_seconds_count") == 2
    assert value(found, "lobbywatch_server_alerts_open", kind="device_fault", site=site_id) == 1
    attempts = {"channel_type": "webhook", "result": "ok"}
    assert value(found, "lobbywatch_server_notification_attempts_total", **attempts) == 1
    assert value(found, "lobbywatch_server_notification_latency_seconds_count", channel_type="webhook") == 1
    assert value(found, "lobbywatch_server_influx_spool_lines") >= 0
    promtool_check(text)


def test_metrics_stays_out_of_the_api_schema(make_server: Callable[..., Server]) -> None:
    server = make_server()
    assert "/metrics" not in server.client.get("/openapi.json").json()["paths"]


def test_influx_writes_are_timed_and_counted(
    make_server: Callable[..., Server], influxd: Influxd, influx_db: str
) -> None:
    server = make_server(influx=InfluxConfig(url=influxd.url, database=influx_db, flush_interval_s=0.05))
    server.ctx.writer.enqueue(["probe f=1i 1000", "probe f=2i 2000"])
    assert server.ctx.writer.flush(10)
    text = server.client.get("/metrics").text
    found = samples(text)
    assert value(found, "lobbywatch_server_influx_lines_total", result="written") >= 2
    assert value(found, "lobbywatch_server_influx_write_duration_seconds_count") >= 1
    assert value(found, "lobbywatch_server_influx_spool_lines") == 0
    promtool_check(text)


@pytest.mark.real
def test_an_open_live_stream_counts_as_an_sse_client_under_uvicorn(
    tmp_path: Path, clock: FixedClock, site_id: str
) -> None:
    settings = ServerSettings(
        sql_url=f"sqlite:///{tmp_path / 'server.sqlite3'}",
        influx=InfluxConfig(enabled=False),
        halls=[write_hall(tmp_path, site_id)],
    )
    app = create_app(settings, clock)
    route = {"route": "/api/v1/sites/{site}/live/stream"}

    def clients(url: str) -> float:
        return value(
            samples(httpx.get(f"{url}/metrics", timeout=5).text), "lobbywatch_server_sse_clients", **route
        )

    with ThreadedAsgiServer(app, "metrics-test-server") as srv:
        with app.state.ctx.db.session() as session:
            _row, token = create_token(
                session, name="tv", role="display", sites=[site_id], created_at=clock.now()
            )
        assert token is not None
        stream_url = f"{srv.url}/api/v1/sites/{site_id}/live/stream"
        with httpx.stream("GET", stream_url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as r:
            lines = r.iter_lines()  # kept: a dropped iterator closes the connection
            assert next(lines).startswith("event: live")
            assert clients(srv.url) == 1
        assert wait_until(lambda: clients(srv.url) == 0, 10)
        found = samples(httpx.get(f"{srv.url}/metrics", timeout=5).text)
    # A stream is not a request to time: its duration is the client's stay.
    timed = {
        dict(labels).get("route")
        for name, labels in found
        if name.endswith("_request_duration_seconds_count")
    }
    assert timed == {"/metrics"}
