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

After each commit the intake publishes a delivery receipt (retained, QoS 1) for every source
whose committed stream advanced (:class:`gateway.receipts.ReceiptBook`), and after each
connect it publishes every source's receipt again, so a device can keep its messages until
the gateway has them (``docs/protocol.md``, "Delivery receipts"). Quarantine warnings go
through the intake's own :class:`lobbywatch.logs.RepeatSummary` (:func:`warn_quarantined`):
the first of each reason at once, the rest counted, so a flood of bad payloads writes a few
lines however the program logs.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt

from gateway.classify import Ignored, classify
from gateway.outbox import GatewayOutbox, NewMessage, Quarantined
from gateway.receipts import Position, ReceiptBook, Standing
from gateway.stats import Stats
from lobbywatch.clock import Clock
from lobbywatch.config.site import BrokerConfig
from lobbywatch.logs import SUMMARY_INTERVAL_S, RepeatSummary
from lobbywatch.mqtt_session import MqttSession
from lobbywatch.protocol.messages import Receipt
from lobbywatch.protocol.sequence import Stamper
from lobbywatch.protocol.topics import parse_topic, receipt_topic, uplink_filter

log = logging.getLogger("lobbywatch.gateway.intake")


def warn_quarantined(summary: RepeatSummary, item: Quarantined) -> None:
    """Warn of one quarantined message (kept in the quarantine table either way) through
    ``summary``: the first of each reason at once, the rest counted per reason."""
    summary.warn(
        log,
        "quarantined a message on %s: %s (%s)",
        item.topic,
        item.reason,
        item.detail[:200],
        reason=item.reason,
    )


SOURCE_BRANCHES = ("device", "camera", "ticket")
"""Topic branches whose sources get delivery receipts."""


@dataclass(frozen=True, slots=True)
class _Arrival:
    generation: int
    mid: int
    qos: int
    retain: bool
    topic: str
    payload: bytes


def position(site: str, topic: str, payload: bytes, retain: bool) -> Position | None:
    """Where a committed (stored or quarantined) message sits in its source's stream; ``None``
    for a will (it repeats its birth's ``seq``) or when the topic or envelope does not say."""
    info = parse_topic(topic)
    if info is None or info.owner is None or info.site != site or info.branch not in SOURCE_BRANCHES:
        return None
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("source") != info.owner or data.get("will") is True:
        return None
    epoch, seq = data.get("epoch"), data.get("seq")
    if type(epoch) is not int or type(seq) is not int or epoch < 0 or seq < 0:
        return None
    return Position(info.owner, epoch, seq, live=not retain)


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
        receipts: ReceiptBook | None = None,
        gateway_id: str = "gateway",
        on_commit: Any = None,
        commit_max: int = 1000,
        quarantine_log_s: float = SUMMARY_INTERVAL_S,
    ) -> None:
        self.site = site
        self.broker = broker
        self.outbox = outbox
        self.stats = stats
        self.clock = clock
        self.receipts = receipts
        self.commit_max = commit_max
        self._on_commit = on_commit
        self._quarantined = RepeatSummary(quarantine_log_s, now=lambda: clock.now().timestamp())
        # The receipts' own envelope: numbered per process (a new epoch each start).
        self._stamper = Stamper(site, gateway_id, clock=clock, epoch=int(clock.now().timestamp()))
        self._stamp_lock = threading.Lock()
        self._receipts_prefix = receipt_topic(site, "")
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
        if self.receipts is not None:
            # Subscribed already (the session subscribes first). Without our session the broker
            # dropped what sources published meanwhile: ask them to send it again.
            self._publish_receipts(self.receipts.current(resend=not session_present))

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
        self._queue.put(
            _Arrival(self._generation, msg.mid, msg.qos, bool(msg.retain), topic, bytes(msg.payload))
        )

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
        positions: list[Position] = []
        # Our own receipts come back through site/#: not counted, but acknowledged in order
        # with the rest (Mosquitto 2.0 redelivers a session out of order after acknowledgements
        # out of order).
        own = 0
        for a in group:
            if a.topic.startswith(self._receipts_prefix):
                own += 1
                continue
            try:
                verdict = classify(self.site, a.topic, a.payload, now)
            except Exception as exc:  # a bug must not stop the gateway: keep the message aside
                log.exception("could not judge a message on %s", a.topic)
                verdict = Quarantined(now, a.topic, "internal_error", repr(exc), a.payload)
            if isinstance(verdict, Ignored):
                ignored += 1
                continue
            if isinstance(verdict, NewMessage):
                stored.append(verdict)
            else:
                warn_quarantined(self._quarantined, verdict)
                bad.append(verdict)
            # Quarantined ones count as committed too: sending them again would not help.
            if (p := position(self.site, a.topic, a.payload, a.retain)) is not None:
                positions.append(p)
        while True:
            try:
                result = self.outbox.store(stored, bad)
                break
            except Exception:  # disk trouble: keep the messages unacknowledged and retry
                log.exception("could not write to the outbox; retrying")
                if self._stop.wait(1.0):
                    return
        self.stats.add("received", len(group) - own)
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
        if self.receipts is not None and positions:
            self._publish_receipts(self.receipts.record(positions, now))

    def _publish_receipts(self, standings: list[Standing]) -> None:
        """Publish one receipt per stream (retained, QoS 1; paho queues them while offline)."""
        for s in standings:
            with self._stamp_lock:
                receipt = self._stamper.make(
                    Receipt,
                    stream_source=s.source,
                    stream_epoch=s.epoch,
                    committed_seq=s.committed,
                    resend=s.resend,
                )
            self.session.publish(receipt)

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
        self._quarantined.flush(log)
