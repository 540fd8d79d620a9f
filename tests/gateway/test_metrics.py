"""The gateway's ``/metrics`` over HTTP after some traffic: the key series, and promtool."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from lobbywatch.protocol.topics import device_event_topic
from lobbywatch.services import Mosquitto, wait_until
from tests.gateway.helpers_gateway import gateway_settings, running
from tests.gateway.helpers_ingest import IngestReceiver
from tests.gateway.helpers_streams import Publisher, device_stream, wait_published
from tests.helpers_metrics import promtool_check, samples, value

pytestmark = pytest.mark.real


def test_forwarded_and_quarantined_messages_show_and_promtool_accepts_the_text(
    tmp_path: Path, mosquitto: Mosquitto, receiver: IngestReceiver, site_id: str
) -> None:
    settings = gateway_settings(tmp_path, site_id, mosquitto, receiver)
    sent = device_stream(site_id, 50)
    with running(settings) as gw:
        pub = Publisher(mosquitto.host, mosquitto.port)
        infos = pub.publish(sent)
        infos.append(pub.publish_raw(device_event_topic(site_id, "kiosk-9"), b"{not json"))
        wait_published(infos)
        assert wait_until(lambda: receiver.stored_count() == len(sent), 30), receiver.stored_count()
        assert wait_until(lambda: gw.outbox.count == 0, 10)
        url = f"http://127.0.0.1:{settings.health_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as answer:
            content_type = answer.headers["Content-Type"]
            text = answer.read().decode()
        pub.close()
    assert content_type.startswith("text/plain")
    found = samples(text)
    labels = {"site": site_id, "gateway": "gw1"}
    assert value(found, "lobbywatch_gateway_received_total", **labels) == len(sent) + 1
    assert value(found, "lobbywatch_gateway_forwarded_total", **labels) == len(sent)
    assert value(found, "lobbywatch_gateway_batches_total", **labels) >= 1
    assert value(found, "lobbywatch_gateway_backlog_messages", **labels) == 0
    assert value(found, "lobbywatch_gateway_quarantined_total", **labels) == 1
    assert value(found, "lobbywatch_gateway_quarantined_reason_total", **labels, reason="not_json") == 1
    assert value(found, "lobbywatch_gateway_shed_total", **labels) == 0
    assert value(found, "lobbywatch_gateway_mqtt_connected", **labels) == 1
    promtool_check(text)
