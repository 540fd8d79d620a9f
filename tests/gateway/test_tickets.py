"""Queue-ticket events reach the gateway's outbox over MQTT (the ticket system's own account,
held to its topic by the generated ACL) and over ``POST /api/v1/tickets``; invalid ones are
quarantined, counted and answered with located errors."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.devices.credentials import (
    GATEWAY_USER,
    GeneratedCredentials,
    auth_config,
    ticket_user,
    write_credentials,
)
from gateway.tickets_http import TICKETS_PATH
from lobbywatch.config.site import BrokerConfig
from lobbywatch.protocol.codec import MAX_PAYLOAD_BYTES, new_message_id
from lobbywatch.protocol.examples import EXAMPLES
from lobbywatch.protocol.topics import device_event_topic, ticket_event_topic
from lobbywatch.services import Mosquitto, free_port, wait_until
from tests.edge.devices.helpers_devices import KIOSK, hall
from tests.gateway.helpers_gateway import gateway_settings, healthz, running
from tests.gateway.helpers_ingest import IngestReceiver

TOKEN = "ticket-secret"


@pytest.fixture
def secured(tmp_path: Path, site_id: str) -> Iterator[tuple[Mosquitto, GeneratedCredentials]]:
    creds = write_credentials(hall(site_id), tmp_path / "creds")
    with Mosquitto(tmp_path / "broker", extra_config=auth_config(creds.password_file, creds.acl_file)) as b:
        yield b, creds


def _ticket(site: str, seq: int, **changes: Any) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    data = {**EXAMPLES["ticket_event"], "site": site, "source": "qms", "seq": seq, "id": new_message_id()}
    data.update(ts=now.isoformat(), issued_at=now.isoformat(), **changes)
    return data


def _post(port: int, body: bytes, token: str = TOKEN) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{TICKETS_PATH}",
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _client(broker: Mosquitto, user: str, password: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user)
    client.username_pw_set(user, password)
    client.connect(broker.host, broker.port)
    client.loop_start()
    return client


@pytest.mark.real
def test_ticket_events_reach_the_outbox_by_mqtt_and_http(
    tmp_path: Path,
    secured: tuple[Mosquitto, GeneratedCredentials],
    receiver: IngestReceiver,
    site_id: str,
) -> None:
    broker, creds = secured
    gw_broker = BrokerConfig(
        host=broker.host,
        port=broker.port,
        keepalive_s=5,
        username=GATEWAY_USER,
        password_file=creds.secrets_dir / f"{GATEWAY_USER}.password",
    )
    port = free_port()
    settings = gateway_settings(tmp_path, site_id, broker, receiver).with_(
        broker=gw_broker, ticket_port=port, ticket_token=TOKEN
    )
    with running(settings) as gw:
        # MQTT: the ticket system's account may publish its own ticket events, nothing else.
        tix = _client(broker, ticket_user("qms"), creds.passwords[ticket_user("qms")])
        forged = {**_ticket(site_id, 0), "type": "device_event"}
        tix.publish(device_event_topic(site_id, KIOSK), json.dumps(forged).encode(), qos=1)
        by_mqtt = _ticket(site_id, 1, event="issued")
        del by_mqtt["counter"]
        tix.publish(ticket_event_topic(site_id, "qms"), json.dumps(by_mqtt).encode(), qos=1)
        assert wait_until(lambda: receiver.stored_count() >= 1, 20)

        # HTTP: stored, then a duplicate of it, all before the answer.
        by_http = _ticket(site_id, 2)
        status, body = _post(port, json.dumps(by_http).encode())
        assert (status, body["status"]) == (202, "stored")
        assert _post(port, json.dumps(by_http).encode())[1]["status"] == "duplicate"
        assert wait_until(lambda: receiver.stored_count() >= 2, 20)

        # Invalid ones: quarantined with located errors, counted per reason.
        status, body = _post(port, json.dumps(_ticket(site_id, 3, ticket=23)).encode())
        assert (status, body["reason"]) == (400, "schema")
        assert {"field": "ticket", "message": "Input should be a valid string"} in body["errors"]
        status, body = _post(port, json.dumps(_ticket(site_id, 4, colour="red")).encode())
        assert {"field": "colour", "message": "unknown field"} in body["errors"]
        status, body = _post(port, json.dumps(_ticket(site_id, 5)).encode() + b" " * MAX_PAYLOAD_BYTES)
        assert (status, body["reason"]) == (413, "oversized")
        status, body = _post(port, json.dumps({**EXAMPLES["device_event"], "site": site_id}).encode())
        assert (status, body["reason"]) == (400, "topic")
        assert _post(port, json.dumps(_ticket(site_id, 7)).encode(), token="wrong")[0] == 401

        health = healthz(settings.health_port)
        assert health["quarantined_by_reason"] == {"schema": 2, "oversized": 1, "topic": 1}
        assert len(gw.outbox.quarantine_rows()) == 4
        tix.loop_stop()
        tix.disconnect()
    stored = receiver.stored()
    assert sorted(m["id"] for m in stored) == sorted([by_mqtt["id"], by_http["id"]])
    assert all(m["type"] == "ticket_event" for m in stored)
