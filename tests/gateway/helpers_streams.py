"""Message streams and a fast QoS 1 publisher, for the gateway's tests and its benchmark."""

from __future__ import annotations

import subprocess
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from lobbywatch.protocol.codec import encode
from lobbywatch.protocol.messages import DeviceEvent, DeviceHeartbeat, Envelope
from lobbywatch.protocol.topics import topic_for

TS = "2026-11-23T01:30:00Z"


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    payload: bytes
    retain: bool
    source: str
    seq: int
    delivery: str
    msg_id: str


def _outgoing(msg: Envelope) -> Outgoing:
    return Outgoing(topic_for(msg), encode(msg), msg.RETAINED, msg.source, msg.seq, msg.DELIVERY, msg.id)


def device_stream(
    site: str, n: int, *, sources: int = 4, event_every: int = 5, start_seq: int = 0
) -> list[Outgoing]:
    """``n`` messages from ``sources`` kiosks, round robin; every ``event_every``-th message of
    a kiosk is a fault event, the rest are heartbeats (samples). Seqs run per source."""
    out: list[Outgoing] = []
    seqs = [start_seq] * sources
    for i in range(n):
        k = i % sources
        seq = seqs[k]
        seqs[k] += 1
        common: dict[str, Any] = {
            "v": 1,
            "id": uuid.uuid4().hex,
            "site": site,
            "source": f"kiosk-{k}",
            "epoch": 0,
            "seq": seq,
            "ts": TS,
        }
        msg: Envelope
        if event_every and seq % event_every == event_every - 1:
            msg = DeviceEvent.model_validate(
                {
                    **common,
                    "type": "device_event",
                    "event": "fault_raised",
                    "code": "PRN_PAPER_OUT",
                    "severity": "warning",
                }
            )
        else:
            msg = DeviceHeartbeat.model_validate(
                {**common, "type": "device_heartbeat", "uptime_s": float(seq), "interval_s": 30}
            )
        out.append(_outgoing(msg))
    return out


class Publisher:
    """A paho client that publishes QoS 1 as fast as the broker takes it, counting PUBACKs."""

    def __init__(self, host: str, port: int) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.acked: set[int] = set()
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self.client.on_publish = self._on_publish
        self.client.on_connect = lambda *_: self._connected.set()
        self.client.on_disconnect = lambda *_: self._connected.clear()
        self.client.connect(host, port, keepalive=5)
        self.client.loop_start()
        if not self._connected.wait(10):
            raise ConnectionError("publisher could not connect")

    def _on_publish(self, _c: mqtt.Client, _u: object, mid: int, _rc: object, _p: object) -> None:
        with self._lock:
            self.acked.add(mid)

    def wait_connected(self, timeout: float = 20) -> bool:
        return self._connected.wait(timeout)

    def publish(self, items: Iterable[Outgoing]) -> list[mqtt.MQTTMessageInfo]:
        return [self.client.publish(o.topic, o.payload, qos=1, retain=o.retain) for o in items]

    def publish_raw(self, topic: str, payload: bytes, retain: bool = False) -> mqtt.MQTTMessageInfo:
        return self.client.publish(topic, payload, qos=1, retain=retain)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def wait_published(infos: list[mqtt.MQTTMessageInfo], timeout: float = 60) -> None:
    for info in infos:
        info.wait_for_publish(timeout)


def by_source(stored: list[dict[str, Any]]) -> dict[tuple[str, str], list[int]]:
    """Seqs received per (source, message class), in arrival order."""
    out: dict[tuple[str, str], list[int]] = defaultdict(list)
    for m in stored:
        cls = "event" if m["type"] == "device_event" else "sample"
        out[(m["source"], cls)].append(int(m["seq"]))
    return out


def assert_exactly_once_in_order(stored: list[dict[str, Any]], sent: list[Outgoing]) -> None:
    """Every sent (source, seq) stored once; per source and class, in the order sent."""
    got = [(m["source"], int(m["seq"])) for m in stored]
    assert len(got) == len(set(got)), "a message was stored twice"
    want = {(o.source, o.seq) for o in sent}
    missing = want - set(got)
    assert not missing, f"{len(missing)} messages never arrived, e.g. {sorted(missing)[:5]}"
    assert set(got) == want
    for key, seqs in by_source(stored).items():
        assert seqs == sorted(seqs), f"{key} arrived out of order"


def publish_with_mosquitto_pub(host: str, port: int, items: list[Outgoing]) -> None:
    """Publish ``items`` at QoS 1 through ``mosquitto_pub -l`` (C, fast), one process per topic
    so each topic keeps its order; returns once every process has finished."""
    by_topic: dict[str, list[bytes]] = defaultdict(list)
    for o in items:
        by_topic[o.topic].append(o.payload)
    procs = []
    for topic, payloads in by_topic.items():
        proc = subprocess.Popen(
            ["mosquitto_pub", "-h", host, "-p", str(port), "-q", "1", "-t", topic, "-l"],
            stdin=subprocess.PIPE,
        )
        procs.append((proc, b"\n".join(payloads) + b"\n"))
    writers = [threading.Thread(target=p.communicate, args=(data,)) for p, data in procs]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    failed = [p.returncode for p, _ in procs if p.returncode]
    if failed:
        raise RuntimeError(f"mosquitto_pub failed with exit codes {failed}")
