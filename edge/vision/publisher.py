"""MQTT side of the vision daemon: the camera's birth/last-will, zone states, waits, status.

* At start-up the camera's status is set ``online`` (the birth) with a last-will that
  repeats the birth's sequence number and says ``offline``; every zone the camera sees is
  immediately published zeroed (retained), so a restart never leaves stale counts.
* The session (:class:`lobbywatch.mqtt_session.MqttSession`) reconnects with back-off; QoS 1
  messages sent while the broker is away wait in the client and are delivered after the
  reconnect, and on every reconnect the camera's ``online`` status and the latest zone states
  are published again (the broker published the will meanwhile, and may have lost retained
  messages). Details: ``docs/vision.md``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import paho.mqtt.client as mqtt

from lobbywatch.config.site import BrokerConfig
from lobbywatch.mqtt_session import MqttSession
from lobbywatch.protocol.enums import Presence
from lobbywatch.protocol.messages import CameraStatus, Envelope, ZoneState
from lobbywatch.protocol.sequence import Stamper


class VisionPublisher:
    """Publishes one camera's messages; its session re-sends the current state after a reconnect."""

    def __init__(
        self,
        broker: BrokerConfig,
        stamper: Stamper,
        *,
        client_id: str | None = None,
        password: str | None = None,
    ) -> None:
        self.broker = broker
        self.stamper = stamper
        self.client_id = client_id or f"lw-vision-{stamper.site}-{stamper.source}"
        self._password = password
        self._lock = threading.Lock()
        self._status_fields: dict[str, Any] = {"stream_ok": False}
        self.session: MqttSession | None = None  # from start() on (kept after stop(): counters)
        self._running = False

    @property
    def client(self) -> mqtt.Client | None:
        """The session's paho client, while running."""
        return self.session.client if self._running and self.session is not None else None

    @property
    def published(self) -> int:
        return 0 if self.session is None else self.session.published

    @property
    def failed(self) -> int:
        return 0 if self.session is None else self.session.failed

    def start(self, initial: Iterable[Envelope], timeout: float = 10.0) -> None:
        """Connect with the last-will, publish the birth and the ``initial`` (zeroed) states.
        Raises ``ConnectionError`` when the broker has not accepted us within ``timeout``."""
        will = self.stamper.make(
            CameraStatus,
            seq=self.stamper.next_seq,  # the birth's, published once the broker accepts us
            state=Presence.OFFLINE,
            will=True,
            reason="connection lost",
            stream_ok=False,
        )
        self.session = MqttSession(
            self.client_id,
            self.broker,
            password=self._password,
            will=will,
            birth=self._birth,
            max_queued_messages=10_000,
        ).start()
        self._running = True
        if not self.session.wait_connected(timeout):
            error = self.session.last_error or f"no answer in {timeout}s"
            self.session.stop()
            self._running = False
            raise ConnectionError(f"MQTT broker {self.broker.host}:{self.broker.port}: {error}")
        self.send(initial)

    def _birth(self) -> list[Envelope]:
        with self._lock:
            fields = dict(self._status_fields)
        return [self.stamper.make(CameraStatus, state=Presence.ONLINE, **fields)]

    def send(self, messages: Iterable[Envelope]) -> None:
        """Publish messages (their topic and retain flag come from their type)."""
        assert self.session is not None, "start() first"
        for m in messages:
            if isinstance(m, ZoneState):
                self.session.publish_state(m)
            else:
                self.session.publish(m)

    def status(self, **fields: Any) -> CameraStatus:
        """Publish the camera's ``online`` status with health figures (fps, frames, ...)."""
        assert self.session is not None, "start() first"
        with self._lock:
            self._status_fields = fields
        msg = self.stamper.make(CameraStatus, state=Presence.ONLINE, **fields)
        self.session.publish(msg)
        return msg

    def stop(self, reason: str = "stopped", timeout: float = 5.0) -> None:
        """Publish ``offline`` (not a will) and disconnect cleanly."""
        if not self._running or self.session is None:
            return
        self._running = False
        msg = self.stamper.make(CameraStatus, state=Presence.OFFLINE, reason=reason, stream_ok=False)
        self.session.stop(final=msg, timeout=timeout)
