"""MQTT plumbing shared by every hall component (paho-mqtt 2).

One way to make a client (with a last-will), one way to publish a protocol message (its topic
and retain flag come from the message itself), so no component spells a topic by hand. A
long-running component's session life (birth, will, reconnect) is
:class:`lobbywatch.mqtt_session.MqttSession`; ``connect_and_wait`` is for short-lived clients.
"""

from __future__ import annotations

import ssl
import threading
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from lobbywatch.config.site import BrokerConfig
from lobbywatch.protocol.codec import encode
from lobbywatch.protocol.messages import Envelope
from lobbywatch.protocol.topics import topic_for


def broker_from_url(url: str) -> BrokerConfig:
    """``mqtt://host:1883`` or ``mqtts://host:8883`` -> :class:`BrokerConfig`."""
    parsed = urlparse(url if "://" in url else f"mqtt://{url}")
    if parsed.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ValueError(f"broker URL {url!r}: scheme must be mqtt:// or mqtts://")
    tls = parsed.scheme in ("mqtts", "ssl")
    return BrokerConfig(
        host=parsed.hostname or "127.0.0.1",
        port=parsed.port or (8883 if tls else 1883),
        tls=tls,
        username=parsed.username,
    )


def make_client(
    client_id: str,
    broker: BrokerConfig,
    *,
    will: Envelope | None = None,
    persistent_session: bool = False,
    manual_ack: bool = False,
    password: str | None = None,
    auto_reconnect: bool = True,
) -> mqtt.Client:
    """A configured, not yet connected client. ``will`` becomes the MQTT last-will. With
    ``auto_reconnect`` paho's network thread reconnects by itself (back-off 1..30 s); without
    it the thread ends when the connection is lost (:class:`lobbywatch.mqtt_session.MqttSession`
    reconnects then)."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=not persistent_session,
        protocol=mqtt.MQTTv311,
        manual_ack=manual_ack,
        reconnect_on_failure=auto_reconnect,
    )
    if broker.username is not None:
        if password is None and broker.password_file is not None:
            password = broker.password_file.read_text().strip()
        client.username_pw_set(broker.username, password)
    if broker.tls:
        ctx = ssl.create_default_context(cafile=str(broker.ca_file) if broker.ca_file else None)
        client.tls_set_context(ctx)
    if will is not None:
        client.will_set(topic_for(will), encode(will), qos=1, retain=will.RETAINED)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client


def publish(client: mqtt.Client, message: Envelope, qos: int = 1) -> mqtt.MQTTMessageInfo:
    """Publish a protocol message on its own topic, retained if its type is retained."""
    return client.publish(topic_for(message), encode(message), qos=qos, retain=message.RETAINED)


def connect_and_wait(client: mqtt.Client, broker: BrokerConfig, timeout: float = 10.0) -> None:
    """Connect, start the network loop, and block until the broker has accepted us."""
    connected = threading.Event()
    failure: list[str] = []
    previous = client.on_connect

    def on_connect(c: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if getattr(reason, "is_failure", False):
            failure.append(str(reason))
        connected.set()
        if previous is not None:
            previous(c, userdata, flags, reason, props)  # type: ignore[call-arg]

    client.on_connect = on_connect
    client.connect_async(broker.host, broker.port, keepalive=broker.keepalive_s)
    client.loop_start()
    if not connected.wait(timeout):
        client.loop_stop()
        raise ConnectionError(f"MQTT broker {broker.host}:{broker.port} did not answer in {timeout}s")
    client.on_connect = previous
    if failure:
        client.loop_stop()
        raise ConnectionError(f"MQTT broker {broker.host}:{broker.port} refused us: {failure[0]}")
