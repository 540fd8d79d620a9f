"""One MQTT session's life, shared by the vision daemon, the device agent and the gateway.

:class:`MqttSession` owns the paho client(s) of one component: connect with a last-will,
after every (re)connect subscribe, publish the birth and re-publish the current state, and
reconnect with jittered back-off until stopped (cleanly, with a final status, or like a
crash). What a component does with the connection stays in the component.
How each component uses it: ``docs/vision.md``, ``docs/device-agent.md``, ``docs/gateway.md``.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import paho.mqtt.client as mqtt

from lobbywatch.backoff import Backoff
from lobbywatch.config.site import BrokerConfig
from lobbywatch.mqtt import make_client, publish
from lobbywatch.protocol.codec import encode
from lobbywatch.protocol.messages import Envelope
from lobbywatch.protocol.topics import topic_for

log = logging.getLogger(__name__)

#: Called in the network thread once the broker accepted a connection (after the birth):
#: ``(client, session_present)``.
OnConnect = Callable[[mqtt.Client, bool], None]
#: Called in the network thread when a connection is lost: ``(client, reason)``.
OnDisconnect = Callable[[mqtt.Client, str], None]


class MqttSession:
    """A component's connection to its hall broker, kept up until :meth:`stop`.

    * ``will`` — the last-will: a message, or a function called before every connection
      attempt (for a will that must carry the coming birth's ``seq``).
    * ``birth`` — returns the messages published right after every connect (first and later);
      then every message kept by :meth:`publish_state` (the latest per topic) is published
      again, since the broker published the will meanwhile and may have lost retained ones.
    * ``subscriptions`` — ``(filter, qos)`` pairs subscribed after every connect.
    * ``client_per_connection`` — a fresh paho client for each connection, for a component
      that keeps its own durable queue (the device agent): nothing unacknowledged is then
      sent again by paho behind its back. Otherwise one client lives as long as the session,
      and paho sends the QoS 1 messages queued while the broker was away after the reconnect.
    * ``backoff`` — the wait between connection attempts; jittered by default, so the
      components of many halls do not reconnect in step after an outage.
    * ``on_connect`` / ``on_disconnect`` — the component's own reaction to a connection won
      or lost (the device agent queues its birth in its outbox; the gateway counts them).
    * ``on_message`` / ``on_publish`` / ``on_subscribe`` — paho callbacks set on every client.

    Thread-safe; all callbacks run in paho's network thread.
    """

    def __init__(
        self,
        client_id: str,
        broker: BrokerConfig,
        *,
        password: str | None = None,
        will: Envelope | Callable[[], Envelope] | None = None,
        birth: Callable[[], Iterable[Envelope]] | None = None,
        subscriptions: Sequence[tuple[str, int]] = (),
        persistent_session: bool = False,
        manual_ack: bool = False,
        client_per_connection: bool = False,
        backoff: Backoff | None = None,
        connect_timeout_s: float = 5.0,
        max_queued_messages: int = 0,
        on_connect: OnConnect | None = None,
        on_disconnect: OnDisconnect | None = None,
        on_message: mqtt.CallbackOnMessage | None = None,
        on_publish: mqtt.CallbackOnPublish | None = None,
        on_subscribe: mqtt.CallbackOnSubscribe | None = None,
    ) -> None:
        self.client_id = client_id
        self.broker = broker
        self._password = password
        self._will = will
        self._birth = birth
        self._subscriptions = list(subscriptions)
        self._persistent_session = persistent_session
        self._manual_ack = manual_ack
        self._client_per_connection = client_per_connection
        self._backoff = backoff or Backoff(1.0, 30.0, random.Random())
        self._connect_timeout_s = connect_timeout_s
        self._max_queued_messages = max_queued_messages
        self._on_connect_hook = on_connect
        self._on_disconnect_hook = on_disconnect
        self._on_message = on_message
        self._on_publish = on_publish
        self._on_subscribe = on_subscribe

        self._lock = threading.Lock()
        self._state: dict[str, Envelope] = {}  # topic -> latest message kept by publish_state
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._outcome = threading.Condition()  # notified when the broker accepts or refuses us
        self._refused = False
        self._lost = threading.Event()
        self._thread: threading.Thread | None = None
        self.client: mqtt.Client = self._new_client()
        #: Connections the broker accepted; ``reconnects`` of them came after the first.
        self.connects = 0
        self.published = 0
        self.failed = 0
        #: Why the broker last refused a connection, or why it could not be reached.
        self.last_error: str | None = None

    @property
    def reconnects(self) -> int:
        return max(0, self.connects - 1)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        """Block until the broker has accepted a connection (True), refused one (False at
        once: bad credentials do not get better by waiting; see ``last_error``) or ``timeout``
        passes (False). The session goes on trying either way until stopped."""
        with self._outcome:
            self._outcome.wait_for(lambda: self.connected or self._refused, timeout)
        return self.connected

    # ------------------------------------------------------------------ publishing

    def publish(self, message: Envelope, qos: int = 1) -> mqtt.MQTTMessageInfo | None:
        """Publish on the message's own topic; never raises (a failure is counted and logged).
        While the broker is away, QoS 1 messages wait in the client (unless
        ``client_per_connection``)."""
        try:
            info = publish(self.client, message, qos=qos)
        except (ValueError, RuntimeError, OSError) as exc:  # never die on one message
            self.failed += 1
            log.warning("could not publish %s: %s", message.type, exc)
            return None
        self.published += 1
        return info

    def publish_state(self, message: Envelope) -> mqtt.MQTTMessageInfo | None:
        """Publish a piece of current state, and again after every reconnect (latest per topic)."""
        with self._lock:
            self._state[topic_for(message)] = message
        return self.publish(message)

    # ------------------------------------------------------------------ life cycle

    def start(self) -> MqttSession:
        """Start connecting (in the background; see :meth:`wait_connected`)."""
        self._thread = threading.Thread(target=self._run, name=f"mqtt-{self.client_id}", daemon=True)
        self._thread.start()
        return self

    def stop(self, final: Envelope | None = None, timeout: float = 5.0) -> None:
        """Stop reconnecting; publish ``final`` (e.g. an offline status, waiting up to
        ``timeout`` for the broker) and disconnect cleanly, so the broker drops the will."""
        self._halt()
        if final is not None:
            info = self.publish(final)
            if info is not None:
                try:
                    info.wait_for_publish(timeout)
                except (ValueError, RuntimeError) as exc:
                    log.warning("could not publish the final %s: %s", final.type, exc)
        with contextlib.suppress(Exception):
            self.client.disconnect()
        self.client.loop_stop()
        self._connected.clear()

    def abort(self) -> None:
        """Drop the connection like a crash: no DISCONNECT, so the broker publishes the will."""
        self._stop.set()
        self._drop_socket()  # at once, before anything winds down
        self._halt()
        self._drop_socket()  # the loop may have connected meanwhile
        self.client.loop_stop()
        self._connected.clear()

    def _drop_socket(self) -> None:
        sock = self.client.socket()
        if sock is not None:
            with contextlib.suppress(Exception):
                sock.close()

    def _halt(self) -> None:
        self._stop.set()
        self._lost.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self._connect_timeout_s + 5)

    # ------------------------------------------------------------------ connection loop

    def _new_client(self) -> mqtt.Client:
        client = make_client(
            self.client_id,
            self.broker,
            persistent_session=self._persistent_session,
            manual_ack=self._manual_ack,
            password=self._password,
            auto_reconnect=False,  # the session reconnects, with its own back-off
        )
        client.connect_timeout = self._connect_timeout_s
        if self._max_queued_messages:
            client.max_queued_messages_set(self._max_queued_messages)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        if self._on_message is not None:
            client.on_message = self._on_message
        if self._on_publish is not None:
            client.on_publish = self._on_publish
        if self._on_subscribe is not None:
            client.on_subscribe = self._on_subscribe
        return client

    def _run(self) -> None:
        first = True
        while not self._stop.is_set():
            if self._client_per_connection and not first:
                self.client = self._new_client()
            first = False
            if self._connect_once():
                self._backoff.reset()
            if self._stop.wait(self._backoff.next_delay()):
                return

    def _connect_once(self) -> bool:
        """One connection, from CONNECT until it is lost; True if the broker accepted it."""
        client = self.client
        will = self._will() if callable(self._will) else self._will
        if will is not None:
            client.will_set(topic_for(will), encode(will), qos=1, retain=will.RETAINED)
        self._lost.clear()
        if self._stop.is_set():
            return False
        connects = self.connects
        try:
            client.connect(self.broker.host, self.broker.port, keepalive=self.broker.keepalive_s)
        except OSError as exc:
            self.last_error = f"unreachable: {exc}"
            log.debug("broker %s:%s unreachable: %s", self.broker.host, self.broker.port, exc)
            return False
        client.loop_start()
        # Set by on_disconnect, a refusal, stop() or abort(). When the socket is closed under
        # it, paho's thread may end without on_disconnect, so that is watched for too.
        while not (self._lost.wait(0.2) or self._stop.is_set()):
            if self.connects > connects and not _alive(client):
                client.loop_stop()
                if not self._lost.is_set():
                    self._handle_disconnect(client, None, None, "connection lost", None)
        if self._stop.is_set():
            return self.connects > connects  # stop() disconnects it (or abort() drops it)
        self._connected.clear()
        client.loop_stop()
        with contextlib.suppress(Exception):
            client.disconnect()
        return self.connects > connects

    def _handle_connect(self, client: mqtt.Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        if getattr(reason, "is_failure", False):
            self.last_error = f"refused: {reason}"
            log.warning("broker %s:%s refused the connection: %s", self.broker.host, self.broker.port, reason)
            with self._outcome:
                self._refused = True
                self._outcome.notify_all()
            self._lost.set()
            return
        for topic_filter, qos in self._subscriptions:
            client.subscribe(topic_filter, qos=qos)
        self.connects += 1
        self.last_error = None
        if self._birth is not None:
            for message in self._birth():
                self.publish(message)
        with self._lock:
            state = list(self._state.values())
        if state and self.connects > 1:
            log.info("reconnected to the broker; re-publishing %d state messages", len(state))
        for message in state:
            self.publish(message)
        if self._on_connect_hook is not None:
            self._on_connect_hook(client, bool(getattr(flags, "session_present", False)))
        with self._outcome:
            self._refused = False
            self._connected.set()
            self._outcome.notify_all()

    def _handle_disconnect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self._connected.clear()
        if self._on_disconnect_hook is not None:
            self._on_disconnect_hook(client, str(reason))
        self._lost.set()


def _alive(client: mqtt.Client) -> bool:
    sock = client.socket()
    return client.is_connected() and sock is not None and sock.fileno() >= 0


__all__ = ["MqttSession", "OnConnect", "OnDisconnect"]
