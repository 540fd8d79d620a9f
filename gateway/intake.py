"""From the hall broker into the gateway's outbox, acknowledging each message only once it is on disk.

The :class:`MqttSession` uses a fixed client id, a persistent session and manual
acknowledgement. Its network thread only queues what arrives; a writer thread takes
everything queued (up to ``commit_max``), validates it, commits it to the outbox in one
transaction and only then sends the PUBACKs. A crash before the commit leaves the messages
unacknowledged, so the broker delivers them again.

A message received on an earlier connection is committed but not acknowledged: its packet
id belongs to a session state the broker has already resent, and acknowledging it on the new
connection could acknowledge a different message. The broker redelivers it; the outbox (or
the server) drops the copy by message id.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt

from gateway.classify import Ignored, classify
from gateway.outbox import GatewayOutbox, NewMessage, Quarantined
from gateway.stats import Stats
from lobbywatch.clock import Clock
from lobbywatch.config.site import BrokerConfig
from lobbywatch.mqtt_session import MqttSession
from lobbywatch.protocol.topics import uplink_filter

log = logging.getLogger("lobbywatch.gateway.intake")


@dataclass(frozen=True, slots=True)
class _Arrival:
    generation: int
    mid: int
    qos: int
    topic: str
    payload: bytes


class Intake:
    """Subscribes to the hall's uplink topics and writes what arrives to the outbox."""

    def __init__(
        self,
        *,
        site: str,
        client_id: str,
        broker: BrokerConfig,
        outbox: GatewayOutbox,
        stats: Stats,
        clock: Clock,
        on_commit: Any = None,
        commit_max: int = 1000,
    ) -> None:
        self.site = site
        self.broker = broker
        self.outbox = outbox
        self.stats = stats
        self.clock = clock
        self.commit_max = commit_max
        self._on_commit = on_commit
        self._queue: queue.Queue[_Arrival | None] = queue.Queue()
        self._generation = 0
        self._stop = threading.Event()
        self.session = MqttSession(
            client_id,
            broker,
            subscriptions=[(uplink_filter(site), 1)],
            persistent_session=True,
            manual_ack=True,
            on_connect=self._on_connect,
            on_disconnect=self._on_disconnect,
            on_message=self._on_message,
            on_subscribe=self._on_subscribe,
        )
        self._writer = threading.Thread(target=self._write_loop, name="gw-writer", daemon=True)

    # ------------------------------------------------------------------ MQTT thread

    def _on_connect(self, _c: mqtt.Client, session_present: bool) -> None:
        self._generation += 1
        self.stats.mqtt_connected = True
        self.stats.add("mqtt_connects")
        log.info(
            "connected to %s:%s (session present: %s)", self.broker.host, self.broker.port, session_present
        )

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, codes: Any, _p: Any) -> None:
        if any(getattr(c, "is_failure", False) for c in codes):
            log.error("broker refused the subscription to %s: %s", uplink_filter(self.site), codes)
            return
        self.stats.mqtt_subscribed = True

    def _on_disconnect(self, _c: mqtt.Client, reason: str) -> None:
        self.stats.mqtt_connected = False
        self.stats.mqtt_subscribed = False
        self._generation += 1
        log.warning("disconnected from the broker (%s); reconnecting", reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            topic = msg.topic
        except UnicodeDecodeError:  # brokers check this; never let it stop the network thread
            topic = msg._topic.decode("utf-8", "replace")
        self._queue.put(_Arrival(self._generation, msg.mid, msg.qos, topic, bytes(msg.payload)))

    # ------------------------------------------------------------------ writer thread

    def _write_loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            done = False
            while len(group) < self.commit_max:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    done = True
                    break
                group.append(item)
            try:
                self._commit(group)
            except Exception:  # never die: what was not acknowledged comes again on reconnect
                log.exception("could not process %d messages", len(group))
            if done:
                return

    def _commit(self, group: list[_Arrival]) -> None:
        now = self.clock.now().timestamp()
        stored: list[NewMessage] = []
        bad: list[Quarantined] = []
        ignored = 0
        for a in group:
            try:
                verdict = classify(self.site, a.topic, a.payload, now)
            except Exception as exc:  # a bug must not stop the gateway: keep the message aside
                log.exception("could not judge a message on %s", a.topic)
                verdict = Quarantined(now, a.topic, "internal_error", repr(exc), a.payload)
            if isinstance(verdict, NewMessage):
                stored.append(verdict)
            elif isinstance(verdict, Quarantined):
                log.warning(
                    "quarantined a message on %s: %s (%s)", a.topic, verdict.reason, verdict.detail[:200]
                )
                bad.append(verdict)
            else:
                assert isinstance(verdict, Ignored)
                ignored += 1
        while True:
            try:
                result = self.outbox.store(stored, bad)
                break
            except Exception:  # disk trouble: keep the messages unacknowledged and retry
                log.exception("could not write to the outbox; retrying")
                if self._stop.wait(1.0):
                    return
        self.stats.add("received", len(group))
        self.stats.add("stored", result.stored)
        self.stats.add("local_duplicates", result.duplicates)
        self.stats.add("quarantined_here", len(bad))
        self.stats.add("ignored", ignored)
        self.stats.add("shed_here", result.shed)
        if result.shed:
            log.warning("outbox over its size cap: shed %d oldest samples", result.shed)
        generation = self._generation
        for a in group:
            if a.qos > 0 and a.generation == generation:
                self.session.client.ack(a.mid, a.qos)
        if self._on_commit is not None:
            self._on_commit()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._writer.start()
        self.session.start()

    def stop(self) -> None:
        """Disconnect, then commit what is queued (left unacknowledged: it comes again)."""
        self._generation += 1
        self.session.stop()
        self._stop.set()
        self._queue.put(None)
        self._writer.join(timeout=30)
