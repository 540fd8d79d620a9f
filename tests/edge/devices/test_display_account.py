"""The in-hall display's broker account on a real Mosquitto with the generated ACL and WebSocket
listener: over MQTT-over-WebSocket it reads what a wall needs and nothing else, and publishes
nothing (docs/pages.md, "In-hall mode")."""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Literal, TypeVar

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.devices.credentials import (
    DISPLAY_USER,
    auth_config,
    display_topics,
    hall_users,
    hash_password,
    render_acl,
    websocket_listener,
    write_credentials,
)
from lobbywatch.protocol.topics import (
    alert_downlink_topic,
    camera_status_topic,
    counter_state_topic,
    device_downlink_topic,
    device_event_topic,
    device_status_topic,
    open_alert_topic,
    receipt_topic,
    site_root,
    ticket_event_topic,
    wait_board_topic,
    zone_state_topic,
)
from lobbywatch.services import Mosquitto, free_port, wait_until
from tests.edge.devices.helpers_devices import KIOSK, TERMINAL, hall

ADMIN = "test-admin"
T = TypeVar("T")


@pytest.mark.unit
def test_display_account_reads_only_what_a_wall_needs_and_writes_nothing(site_id: str) -> None:
    acl = render_acl(hall_users(hall(site_id)))
    block = acl.split(f"user {DISPLAY_USER}\n")[1].split("\n\n")[0].splitlines()
    assert block == [f"topic read {t}" for t in display_topics(site_id)]


def _connect(
    user: str, password: str, port: int, transport: Literal["tcp", "websockets"] = "tcp"
) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user, transport=transport)
    client.username_pw_set(user, password)
    up = threading.Event()
    client.on_connect = lambda *_a: up.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    assert up.wait(10), f"{user} could not connect over {transport}"
    return client


@pytest.mark.real
def test_display_over_websocket_reads_the_wall_topics_and_cannot_publish(
    tmp_path: Path, site_id: str
) -> None:
    ws_port = free_port()
    creds = write_credentials(hall(site_id), tmp_path / "creds", websocket_port=ws_port)
    assert f"listener {ws_port}\nprotocol websockets\n" in creds.config_file.read_text()
    # a probe with full rights, for the test only: it writes every topic and sees what gets through
    with creds.password_file.open("a") as f:
        f.write(f"{ADMIN}:{hash_password('admin-secret')}\n")
    with creds.acl_file.open("a") as f:
        f.write(f"\nuser {ADMIN}\ntopic readwrite #\n")
    extra = [*auth_config(creds.password_file, creds.acl_file), *websocket_listener(ws_port)]
    with Mosquitto(tmp_path / "broker", extra_config=extra) as b:
        admin = _connect(ADMIN, "admin-secret", b.port)
        display = _connect(DISPLAY_USER, creds.passwords[DISPLAY_USER], ws_port, "websockets")
        got: queue.Queue[str] = queue.Queue()
        display.on_message = lambda _c, _u, m: got.put(m.topic)
        by_admin: queue.Queue[bytes] = queue.Queue()
        admin.on_message = lambda _c, _u, m: by_admin.put(bytes(m.payload))
        try:
            root = site_root(site_id)
            subscribed = threading.Event()
            display.on_subscribe = lambda *_a: subscribed.set()
            display.subscribe(f"{root}/#", qos=1)
            admin.subscribe(wait_board_topic(site_id), qos=1)
            wanted = {
                zone_state_topic(site_id, "cam-counters", "queue-main"),
                camera_status_topic(site_id, "cam-counters"),
                device_status_topic(site_id, KIOSK),
                counter_state_topic(site_id, TERMINAL, "c1"),
                open_alert_topic(site_id, "alert-hall-0001"),
                wait_board_topic(site_id),
            }
            private = {
                device_event_topic(site_id, KIOSK),
                device_downlink_topic(site_id, KIOSK),
                receipt_topic(site_id, KIOSK),
                ticket_event_topic(site_id, "qms"),
                alert_downlink_topic(site_id),  # the live updates: the wall reads the retained copies
            }
            assert subscribed.wait(10)
            for topic in sorted(private) + sorted(wanted):  # the private ones first
                admin.publish(topic, b"{}", qos=1)
            seen: list[str] = []
            assert wait_until(lambda: _drain(got, seen) >= wanted, 10), seen
            assert not set(seen) & private, seen
            # The display cannot publish, even on a topic it may read: the admin sees only its own.
            display.publish(wait_board_topic(site_id), b'{"forged": true}', qos=1)
            admin.publish(wait_board_topic(site_id), b'{"own": true}', qos=1)
            payloads: list[bytes] = []
            assert wait_until(lambda: b'{"own": true}' in _drain(by_admin, payloads), 10)
            assert b'{"forged": true}' not in payloads
        finally:
            for c in (display, admin):
                c.loop_stop()
                c.disconnect()


def _drain(q: queue.Queue[T], into: list[T]) -> set[T]:
    while not q.empty():
        into.append(q.get_nowait())
    return set(into)
