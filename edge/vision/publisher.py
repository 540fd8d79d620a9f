"""MQTT side of the vision daemon: birth/last-will, zone states, waits, camera status.

* At start-up the camera's status is set ``online`` (the birth) with a last-will that
  repeats the birth's sequence number and says ``offline``; every zone the camera sees is
  immediately published zeroed (retained), so a restart never leaves stale counts.
* paho reconnects by itself (back-off 1..30 s); QoS 1 messages sent while the broker is
  away are queued by paho and delivered after the reconnect, and on every reconnect the
  camera's ``online`` status and the latest zone states are published again (the broker
  published the will meanwhile, and may have lost retained messages).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

from lobbywatch.config.site import BrokerConfig
from lobbywatch.mqtt import connect_and_wait, make_client, publish
from lobbywatch.protocol.enums import Presence
from lobbywatch.protocol.messages import CameraStatus, Envelope, ZoneState
from lobbywatch.protocol.sequence import Stamper

log = logging.getLogger(__name__)


class VisionPublisher:
    """Publishes one camera's messages; keeps what must be re-sent after a reconnect."""

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
        self._zone_states: dict[str, ZoneState] = {}
        self._status_fields: dict[str, Any] = {}
        self._connects = 0
        self.published = 0
        self.failed = 0
        self.client: Any = None

    def start(self, initial: Iterable[Envelope], timeout: float = 10.0) -> None:
        """Connect with the last-will, publish the birth and the ``initial`` (zeroed) states."""
        birth_seq = self.stamper.next_seq
        will = self.stamper.make(
            CameraStatus,
            seq=birth_seq,
            state=Presence.OFFLINE,
            will=True,
            reason="connection lost",
            stream_ok=False,
        )
        self.client = make_client(self.client_id, self.broker, will=will, password=self._password)
        self.client.on_connect = self._on_connect
        self.client.max_queued_messages_set(10_000)
        birth = self.stamper.make(CameraStatus, state=Presence.ONLINE, stream_ok=False)
        connect_and_wait(self.client, self.broker, timeout=timeout)
        self._connects = 1
        self.client.on_connect = self._on_connect
        self._publish(birth)
        self.send(initial)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if getattr(reason, "is_failure", False):
            return
        with self._lock:
            self._connects += 1
            again = self._connects > 1
            states = list(self._zone_states.values())
            fields = dict(self._status_fields)
        if again:
            log.info("reconnected to the broker; re-publishing status and %d zone states", len(states))
            self._publish(self.stamper.make(CameraStatus, state=Presence.ONLINE, **fields))
            for s in states:
                self._publish(s)

    def _publish(self, message: Envelope) -> None:
        try:
            publish(self.client, message)
            self.published += 1
        except (ValueError, RuntimeError, OSError) as exc:  # never die on one message
            self.failed += 1
            log.warning("could not publish %s: %s", message.type, exc)

    def send(self, messages: Iterable[Envelope]) -> None:
        """Publish messages (their topic and retain flag come from their type)."""
        for m in messages:
            if isinstance(m, ZoneState):
                with self._lock:
                    self._zone_states[m.zone] = m
            self._publish(m)

    def status(self, **fields: Any) -> CameraStatus:
        """Publish the camera's ``online`` status with health figures (fps, frames, ...)."""
        with self._lock:
            self._status_fields = fields
        msg = self.stamper.make(CameraStatus, state=Presence.ONLINE, **fields)
        self._publish(msg)
        return msg

    def stop(self, reason: str = "stopped", timeout: float = 5.0) -> None:
        """Publish ``offline`` (not a will) and disconnect cleanly."""
        if self.client is None:
            return
        msg = self.stamper.make(CameraStatus, state=Presence.OFFLINE, reason=reason, stream_ok=False)
        try:
            info = publish(self.client, msg)
            info.wait_for_publish(timeout)
        except (ValueError, RuntimeError, OSError) as exc:
            log.warning("could not publish the offline status: %s", exc)
        self.client.disconnect()
        self.client.loop_stop()
        self.client = None
