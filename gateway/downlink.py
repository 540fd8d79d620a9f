"""From the server to the hall broker: the downlink over the gateway's own outbound connection.

The server keeps what a hall must hear (alerts for the in-hall displays, device commands) in
a per-hall queue numbered by a sequence that only grows (``lobbywatch/protocol/downlink.py``).
:class:`Downlink` long-polls it with the gateway token, publishes each item on the hall
broker (QoS 1, through the intake's session, retained where its type says; a hall alert
also as a retained copy per alert while it is open, :func:`open_alert_copy`), and once the
broker has acknowledged them (PUBACK) writes the item's number to its position file (fsync)
and later acknowledges it to the server. A restart resumes after the last number applied: no item is
lost, and none is published twice except one whose PUBACK came just before a crash and
whose number was not yet written (it carries the same message id). Details:
``docs/gateway.md`` ("Downlink").
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import random
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from pydantic import ValidationError

from lobbywatch.backoff import Backoff
from lobbywatch.mqtt_session import MqttSession
from lobbywatch.protocol.codec import ProtocolError, decode_obj, encode
from lobbywatch.protocol.downlink import (
    DownlinkAck,
    DownlinkBatch,
    DownlinkItem,
    downlink_ack_path,
    downlink_path,
)
from lobbywatch.protocol.enums import AlertState
from lobbywatch.protocol.messages import AlertNotice, Envelope
from lobbywatch.protocol.topics import open_alert_topic

log = logging.getLogger("lobbywatch.gateway.downlink")

#: How long a stopping gateway still waits for the PUBACK of the item it is publishing.
STOP_GRACE_S = 2.0


def open_alert_copy(message: Envelope) -> tuple[str, bytes] | None:
    """The retained copy of a hall alert the gateway keeps on the broker, as (topic, payload),
    or None for any other message: the alert itself on its own topic
    (:func:`lobbywatch.protocol.topics.open_alert_topic`) while it is open, an empty payload
    (which clears it) once it is resolved. A display that subscribes later thus gets every
    open alert of the hall from the broker alone (docs/protocol.md, "Downlink")."""
    if not isinstance(message, AlertNotice):
        return None
    payload = b"" if message.state == AlertState.RESOLVED else encode(message)
    return open_alert_topic(message.site, message.alert_id), payload


class DownlinkError(RuntimeError):
    """The server did not answer a poll or an acknowledgement as it should."""


@dataclass(frozen=True, slots=True)
class DownlinkSettings:
    site: str
    server_url: str
    token: str
    position_file: Path
    wait_s: float = 25.0
    request_timeout_s: float = 10.0
    retry_initial_s: float = 0.5
    retry_max_s: float = 60.0
    server_ca_file: Path | None = None


class Position:
    """The last item number applied to the broker, in a small file replaced atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.applied = int(json.loads(path.read_text())["applied"])
        except FileNotFoundError:
            self.applied = 0

    def save(self, applied: int) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w") as f:
            f.write(json.dumps({"applied": applied}))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self.applied = applied


class Downlink:
    """The downlink thread: poll, publish, remember, acknowledge."""

    def __init__(self, settings: DownlinkSettings, session: MqttSession, rng: random.Random) -> None:
        self.settings = settings
        self.session = session
        self.position = Position(settings.position_file)
        self.acked = 0  # what the server has been told (not kept: told again after a restart)
        self.published = 0
        self.skipped = 0
        self.last_error: str | None = None
        self.backoff = Backoff(settings.retry_initial_s, settings.retry_max_s, rng)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="gw-downlink", daemon=True)
        parsed = urllib.parse.urlsplit(settings.server_url.rstrip("/"))
        self._tls = parsed.scheme == "https"
        self._host = parsed.hostname or "127.0.0.1"
        self._port = parsed.port
        self._base = parsed.path
        self._conn_lock = threading.Lock()
        self._conn: http.client.HTTPConnection | None = None

    def snapshot(self) -> dict[str, Any]:
        return {
            "applied": self.position.applied,
            "acked": self.acked,
            "published": self.published,
            "skipped": self.skipped,
            "last_error": self.last_error,
        }

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop now: a poll in progress is cut off; an item whose PUBACK has not come is
        published again after the restart."""
        self._stop.set()
        with self._conn_lock:
            if self._conn is not None and self._conn.sock is not None:
                with contextlib.suppress(OSError):
                    self._conn.sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=self.settings.request_timeout_s + 5)

    # ------------------------------------------------------------------ loop

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._step()
            except DownlinkError as exc:
                if self._stop.is_set():
                    break
                self.last_error = str(exc)
                delay = self.backoff.next_delay()
                log.warning("downlink: %s; retry in %.2fs", exc, delay)
                self._stop.wait(delay)
            except Exception:  # never die: try again later
                log.exception("downlink failed unexpectedly; retrying")
                self.last_error = "internal error (see the gateway log)"
                self._stop.wait(self.backoff.next_delay())
            else:
                self.backoff.reset()
                self.last_error = None

    def _step(self) -> None:
        """One poll; publish what came, in order; acknowledge what is applied (only once a
        poll has shown that the server gave those numbers out)."""
        query = urllib.parse.urlencode({"after": self.position.applied, "wait": self.settings.wait_s})
        answer = self._request("GET", f"{downlink_path(self.settings.site)}?{query}", None)
        try:
            batch = DownlinkBatch.model_validate_json(answer)
        except ValidationError as exc:
            raise DownlinkError(f"unreadable downlink answer: {exc.errors()[0]['msg']}") from None
        if batch.head < self.position.applied:
            log.warning(
                "the server's downlink numbering is at %d, below the %d applied here "
                "(its database was replaced): starting again from 0",
                batch.head,
                self.position.applied,
            )
            self.position.save(0)
            self.acked = 0
            return
        for item in batch.items:
            if self._stop.is_set() or not self._apply(item):
                break
        if self.acked < self.position.applied:
            self._ack(self.position.applied)

    def _apply(self, item: DownlinkItem) -> bool:
        """Publish one item (and its retained copy, for a hall alert) and wait for the
        broker's PUBACKs; then remember its number. False when stopped first. An item that
        is not a downlink message of this hall is skipped (logged), so it cannot block the
        queue."""
        if item.seq <= self.position.applied:
            return True
        try:
            message = decode_obj(item.message)
            why = None
            if message.site != self.settings.site or message.DIRECTION != "down":
                why = f"a {message.type} of site {message.site} is not a downlink of this hall"
        except ProtocolError as exc:
            why = str(exc)
        if why is not None:
            log.error("downlink item %d skipped: %s", item.seq, why)
            self.skipped += 1
            self.position.save(item.seq)
            return True
        for publish in self._publications(message):
            if not self._deliver(publish):
                return False
        self.position.save(item.seq)
        self.published += 1
        return True

    def _publications(self, message: Envelope) -> list[Callable[[], mqtt.MQTTMessageInfo | None]]:
        """What applying ``message`` publishes: the message on its own topic, then for a hall
        alert its retained copy (:func:`open_alert_copy`)."""
        out: list[Callable[[], mqtt.MQTTMessageInfo | None]] = [lambda: self.session.publish(message)]
        copy = open_alert_copy(message)
        if copy is not None:
            out.append(lambda: self._publish_retained(*copy))
        return out

    def _publish_retained(self, topic: str, payload: bytes) -> mqtt.MQTTMessageInfo | None:
        try:
            return self.session.client.publish(topic, payload, qos=1, retain=True)
        except (ValueError, RuntimeError, OSError) as exc:  # as MqttSession.publish: never die
            log.warning("could not publish the retained copy on %s: %s", topic, exc)
            return None

    def _deliver(self, publish: Callable[[], mqtt.MQTTMessageInfo | None]) -> bool:
        """``publish()`` once the broker is there, and wait for its PUBACK; False when stopped
        first. Published again after a refusal by paho (the session counts and logs it)."""
        while not self._stop.is_set():
            if not self.session.wait_connected(1.0):
                self._stop.wait(0.5)  # refused at once (credentials) or still away
                continue
            info = publish()
            if info is None:
                self._stop.wait(self.backoff.next_delay())
                continue
            return self._puback(info)
        return False

    def _puback(self, info: mqtt.MQTTMessageInfo) -> bool:
        """Wait for the broker's acknowledgement (paho sends the message again after a
        reconnect of the intake's persistent session). When stopping, wait up to
        :data:`STOP_GRACE_S` more, so a clean stop does not leave a published item unrecorded
        (it would be published again after the restart); False if it did not come."""
        while not self._stop.is_set():
            try:
                info.wait_for_publish(1.0)
            except (RuntimeError, ValueError):  # not connected now: paho keeps it for the reconnect
                self._stop.wait(0.2)
            if info.is_published():
                return True
        with contextlib.suppress(RuntimeError, ValueError):
            info.wait_for_publish(STOP_GRACE_S)
        return info.is_published()

    def _ack(self, seq: int) -> None:
        body = DownlinkAck(seq=seq).model_dump_json().encode()
        self._request("POST", downlink_ack_path(self.settings.site), body)
        self.acked = seq

    # ------------------------------------------------------------------ HTTP

    def _request(self, method: str, path: str, body: bytes | None) -> bytes:
        s = self.settings
        timeout = s.request_timeout_s + (s.wait_s if method == "GET" else 0)
        headers = {"Authorization": f"Bearer {s.token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn: http.client.HTTPConnection
        if self._tls:
            ca = s.server_ca_file
            context = ssl.create_default_context(cafile=str(ca) if ca is not None else None)
            conn = http.client.HTTPSConnection(self._host, self._port, timeout=timeout, context=context)
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
        with self._conn_lock:
            if self._stop.is_set():
                raise DownlinkError("stopping")
            self._conn = conn
        try:
            conn.request(method, self._base + path, body=body, headers=headers)
            response = conn.getresponse()
            answer = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise DownlinkError(f"no answer from the server: {exc!r}") from None
        finally:
            with self._conn_lock:
                self._conn = None
            conn.close()
        if response.status != 200:
            raise DownlinkError(f"server answered {response.status} to {method} {path}")
        return answer
