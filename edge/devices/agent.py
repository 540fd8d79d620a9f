"""The kiosk / counter-terminal agent: faults, out-of-service, counter state, heartbeats.

:class:`DeviceAgent` is both the daemon behind ``lobbywatch edge device`` and a library for
kiosk software written in Python::

    agent = DeviceAgent(site_cfg, "kiosk-topup-1", state_dir=Path("/var/lib/lobbywatch"))
    agent.start()
    agent.raise_fault("PRN_PAPER_OUT")
    ...
    agent.stop()

Every outgoing message is first numbered and written to the :class:`DeviceOutbox`, then
published with QoS 1 in ``seq`` order over the agent's :class:`MqttSession` (a fresh client per
connection, whose last-will carries the coming birth's ``seq``); the birth is queued behind
the backlog after every connect. A message is kept until the gateway's delivery receipt
covers it (``receipts="auto"``: once a first receipt for the epoch was seen; before that, and
with ``"off"``, until the broker's PUBACK), and what is kept is sent again after every
connect and when a receipt asks for it. Details: ``docs/device-agent.md``.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import paho.mqtt.client as mqtt

from edge.devices.checks import Check, CheckRunner
from edge.devices.faults import FaultCatalogue, FaultSpec
from edge.devices.outbox import MAX_KEPT, DeviceOutbox
from lobbywatch.backoff import Backoff
from lobbywatch.clock import Clock, SystemClock
from lobbywatch.config.site import BrokerConfig, DeviceConfig, SiteConfig
from lobbywatch.mqtt_session import MqttSession
from lobbywatch.protocol.codec import ProtocolError, decode
from lobbywatch.protocol.enums import CounterStatus, DeviceCommandKind, DeviceEventKind, DeviceKind, Presence
from lobbywatch.protocol.messages import (
    CounterState,
    CounterStateSet,
    DeviceCommand,
    DeviceEvent,
    DeviceHeartbeat,
    DeviceInfo,
    DeviceStatus,
    Envelope,
    Receipt,
    Vitals,
)
from lobbywatch.protocol.sequence import Stamper
from lobbywatch.protocol.topics import counter_downlink_topic, device_downlink_topic, receipt_topic

log = logging.getLogger(__name__)

OosBy = Literal["fault", "hand", "remote"]
#: ``auto``: honour the gateway's receipts once one was seen for this epoch; ``off``: ignore them.
ReceiptMode = Literal["auto", "off"]

#: Messages handed to the MQTT client and not yet acknowledged, at most.
INFLIGHT_WINDOW = 50


class NotACounterTerminal(ValueError):
    """Counter state was reported by a device that is not a counter terminal."""


@dataclass
class AgentState:
    """What the agent keeps across restarts besides the outbox (``state.json``)."""

    faults: dict[str, str | None] = field(default_factory=dict)  # code -> detail
    out_of_service: bool = False
    oos_by: OosBy | None = None
    counter_state: CounterStatus | None = None
    counter_since: datetime | None = None  # when the counter state last changed (either side)

    def to_json(self) -> dict[str, Any]:
        return {
            "faults": self.faults,
            "out_of_service": self.out_of_service,
            "oos_by": self.oos_by,
            "counter_state": None if self.counter_state is None else self.counter_state.value,
            "counter_since": None if self.counter_since is None else self.counter_since.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AgentState:
        cs = data.get("counter_state")
        since = data.get("counter_since")
        return cls(
            faults=dict(data.get("faults") or {}),
            out_of_service=bool(data.get("out_of_service")),
            oos_by=data.get("oos_by"),
            counter_state=None if cs is None else CounterStatus(cs),
            counter_since=None if since is None else datetime.fromisoformat(since),
        )


@dataclass
class AgentCounters:
    """Counters exposed on ``GET /v1/status`` (and useful in tests)."""

    published: int = 0
    acked: int = 0
    connects: int = 0
    bad_downlinks: int = 0
    commands: int = 0
    receipts: int = 0
    covered: int = 0
    resend_requests: int = 0
    counter_states_set: int = 0  # states staff set on the counter display, taken


class DeviceAgent:
    """One device's agent. Thread-safe; ``start()`` it, then call the report methods."""

    def __init__(
        self,
        site: SiteConfig,
        device_id: str,
        *,
        state_dir: Path,
        broker: BrokerConfig | None = None,
        password: str | None = None,
        clock: Clock | None = None,
        catalogue: FaultCatalogue | None = None,
        checks: list[Check] | None = None,
        heartbeat_s: float | None = None,
        firmware: str | None = None,
        capabilities: list[str] | None = None,
        http_port: int | None = None,
        receipts: ReceiptMode = "auto",
        max_kept: int = MAX_KEPT,
    ) -> None:
        self.site = site
        self.device: DeviceConfig = site.device(device_id)
        self.broker = broker or site.broker
        self.password = password
        self.clock: Clock = clock or SystemClock()
        self.catalogue = catalogue or FaultCatalogue()
        self.heartbeat_s = heartbeat_s or self.device.heartbeat_s
        self.info = DeviceInfo(
            kind=self.device.kind,
            vendor=self.device.vendor,
            model=self.device.model,
            firmware=firmware,
            capabilities=capabilities or [],
        )
        self.state_dir = state_dir
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.receipts: ReceiptMode = receipts
        self.outbox = DeviceOutbox(state_dir / "outbox.sqlite3", max_kept=max_kept)
        self.stamper = Stamper(site.site, self.device.id, clock=self.clock, epoch=self.outbox.epoch)
        self._state_path = state_dir / "state.json"
        self.state = self._load_state()
        self.counters = AgentCounters()
        self._checks = CheckRunner(checks or [])
        self._http_port = http_port
        self.http_address: tuple[str, int] | None = None
        self._http: Any = None

        self._lock = threading.RLock()  # agent state (faults, out-of-service, counter)
        self._send_lock = threading.Lock()  # per-connection send bookkeeping
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._client: mqtt.Client | None = None  # the connected client, while connected
        self._last_handed = -1
        self._rewinds = 0  # bumped when sending must start again from the oldest message
        self._mid_seq: dict[int, int] = {}
        self._early_acks: set[int] = set()
        self._threads: list[threading.Thread] = []
        self._started_at = self.clock.monotonic()
        self._next_heartbeat = 0.0
        self.client_id = f"lw-dev-{site.site}-{self.device.id}"[:64]
        # A fresh client per connection: the outbox, not paho, re-sends what was not acknowledged.
        # Jittered, so the kiosks of a hall do not all reconnect in step after an outage. The
        # session persists on the broker, which keeps the QoS 1 commands sent while the agent
        # was away (a restart, a network cut) and delivers them when it is back.
        self.session = MqttSession(
            self.client_id,
            self.broker,
            persistent_session=True,
            password=password,
            will=self._make_will,
            subscriptions=[
                (device_downlink_topic(site.site, self.device.id), 1),
                (receipt_topic(site.site, self.device.id), 1),
                *self._counter_subscription(site.site),
            ],
            client_per_connection=True,
            backoff=Backoff(0.2, 5.0, random.Random()),
            connect_timeout_s=3.0,
            on_connect=self._on_connected,
            on_disconnect=self._on_lost,
            on_message=self._on_message,
            on_publish=self._on_publish,
        )

    def _counter_subscription(self, site: str) -> list[tuple[str, int]]:
        """A counter terminal also reads the state staff set for its counter."""
        counter = self.device.counter
        if self.device.kind != DeviceKind.COUNTER_TERMINAL or counter is None:
            return []
        return [(counter_downlink_topic(site, counter), 1)]

    # ------------------------------------------------------------------ state
    def _load_state(self) -> AgentState:
        try:
            return AgentState.from_json(json.loads(self._state_path.read_text()))
        except (OSError, ValueError):
            return AgentState()

    def _save_state(self) -> None:
        tmp = self._state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state.to_json()))
        tmp.replace(self._state_path)

    @property
    def connected(self) -> bool:
        return self.session.connected

    def snapshot(self) -> dict[str, Any]:
        """The agent's state as JSON-ready data."""
        with self._lock:
            return {
                "site": self.site.site,
                "device": self.device.id,
                "connected": self.connected,
                "epoch": self.outbox.epoch,
                "next_seq": self.outbox.next_seq,
                "backlog": self.outbox.unacked(),
                "awaiting_receipt": self.outbox.backlog(),
                **self.state.to_json(),
                "counters": self.counters.__dict__.copy(),
            }

    # ------------------------------------------------------------------ messages
    def _append(self, cls: type[Envelope], **fields: Any) -> Envelope:
        message = self.outbox.append(lambda seq: self.stamper.make(cls, seq=seq, **fields))
        self._wake.set()
        return message

    def _status_fields(self, state: Presence, *, will: bool = False) -> dict[str, Any]:
        return {
            "state": state,
            "will": will,
            "out_of_service": self.state.out_of_service,
            "faults": sorted(self.state.faults),
            "info": None if will else self.info,
            "heartbeat_s": self.heartbeat_s,
        }

    def _publish_status(self) -> None:
        self._append(DeviceStatus, **self._status_fields(Presence.ONLINE))

    # ------------------------------------------------------------------ reports
    def raise_fault(self, code: str, detail: str | None = None) -> bool:
        """Raise ``code`` (must be in the catalogue). Returns False if it was already active."""
        spec = self.catalogue.get(code)
        with self._lock:
            if code in self.state.faults:
                return False
            self.state.faults[code] = detail
            self._save_state()
            self._fault_event(DeviceEventKind.FAULT_RAISED, spec, detail)
            if spec.unusable and not self.state.out_of_service:
                self._set_oos(True, "fault", f"{code}: {spec.text.en}")
            self._publish_status()
        return True

    def clear_fault(self, code: str, detail: str | None = None) -> bool:
        """Clear ``code``. Returns False if it was not active."""
        spec = self.catalogue.get(code)
        with self._lock:
            if code not in self.state.faults:
                return False
            del self.state.faults[code]
            self._save_state()
            self._fault_event(DeviceEventKind.FAULT_CLEARED, spec, detail)
            if self.state.out_of_service and self.state.oos_by == "fault" and not self._unusable_faults():
                self._set_oos(False, "fault", None)
            self._publish_status()
        return True

    def set_out_of_service(self, on: bool, by: OosBy = "hand", detail: str | None = None) -> bool:
        """Switch the out-of-service notice. Returns False if it already was in that state."""
        with self._lock:
            if self.state.out_of_service == on:
                return False
            self._set_oos(on, by, detail)
            self._publish_status()
        return True

    def set_counter_state(self, state: CounterStatus | str) -> bool:
        """Report the counter's state (counter terminals only). False if unchanged."""
        status = CounterStatus(state)
        if self.device.kind != DeviceKind.COUNTER_TERMINAL or self.device.counter is None:
            raise NotACounterTerminal(
                f"device {self.device.id!r} is a {self.device.kind.value}, not a counter terminal"
            )
        with self._lock:
            now = self.clock.now()
            self.state.counter_since = now
            if self.state.counter_state == status:
                self._save_state()
                return False
            self.state.counter_state = status
            self._save_state()
            self._append(CounterState, counter=self.device.counter, state=status, since=now)
        return True

    def _on_counter_state_set(self, message: CounterStateSet) -> None:
        """A state staff set on the counter display: taken when it is newer than the counter's
        last change here (a retained copy replayed at every connect is not), then reported back
        as this terminal's ``counter_state`` (docs/protocol.md, "Counter states")."""
        with self._lock:
            last = self.state.counter_since
            if last is not None and message.since <= last:
                return
            self.counters.counter_states_set += 1
            if not self.set_counter_state(message.state):
                return
            self.state.counter_since = message.since
            self._save_state()

    def _unusable_faults(self) -> list[str]:
        return [c for c in self.state.faults if c in self.catalogue and self.catalogue.get(c).unusable]

    def _fault_event(self, kind: DeviceEventKind, spec: FaultSpec, detail: str | None) -> None:
        self._append(
            DeviceEvent,
            event=kind,
            code=spec.code,
            severity=spec.severity,
            unusable=spec.unusable,
            detail=detail,
        )

    def _set_oos(self, on: bool, by: OosBy, detail: str | None) -> None:
        self.state.out_of_service = on
        self.state.oos_by = by if on else None
        self._save_state()
        kind = DeviceEventKind.OUT_OF_SERVICE_ON if on else DeviceEventKind.OUT_OF_SERVICE_OFF
        self._append(DeviceEvent, event=kind, by=by, detail=detail[:500] if detail else None)

    def heartbeat(self) -> None:
        """Queue one heartbeat now (also done every ``heartbeat_s`` while connected)."""
        self._append(
            DeviceHeartbeat,
            uptime_s=max(0.0, self.clock.monotonic() - self._started_at),
            interval_s=self.heartbeat_s,
            vitals=self._vitals(),
        )

    def _vitals(self) -> Vitals:
        backlog = self.outbox.unacked()
        try:
            import psutil  # type: ignore[import-untyped,unused-ignore]

            disk = psutil.disk_usage(str(self.state_dir))
            return Vitals(
                cpu_pct=min(100.0, float(psutil.cpu_percent(None))),
                mem_pct=float(psutil.virtual_memory().percent),
                disk_free_pct=round(100.0 - float(disk.percent), 1),
                outbox_backlog=backlog,
            )
        except Exception:  # vitals are best effort
            return Vitals(outbox_backlog=backlog)

    # ------------------------------------------------------------------ life cycle
    def start(self) -> DeviceAgent:
        """Start the local HTTP API (if asked for), then the MQTT session and the sender,
        heartbeat and check threads. Raises ``OSError`` when the API port is taken (nothing is
        started then)."""
        if self._http_port is not None:
            from edge.devices.http_api import serve

            self._http = serve(self, self._http_port)
            self.http_address = self._http.server_address[:2]
        self.session.start()
        for name, target in (
            ("sender", self._sender_loop),
            ("ticker", self._tick_loop),
            ("checks", self._check_loop),
        ):
            t = threading.Thread(target=target, name=f"device-agent-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self, *, clean: bool = True, drain_timeout: float = 5.0) -> None:
        """Stop. With ``clean`` an offline status is sent first (waiting up to ``drain_timeout``)."""
        if clean and self.connected:
            with self._lock:
                self._append(DeviceStatus, **self._status_fields(Presence.OFFLINE))
            deadline = time.monotonic() + drain_timeout
            while self.outbox.unacked() and time.monotonic() < deadline and self.connected:
                self._wake.set()
                time.sleep(0.02)
        if not clean:  # like a crash: drop the connection at once, before anything winds down
            self.session.abort()
        self._stop.set()
        self._wake.set()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        for t in self._threads:
            t.join(timeout=10)
        if clean:
            self.session.stop()
        self.outbox.close()

    def wait_drained(self, timeout: float) -> bool:
        """Block until the broker has acknowledged every message (True) or ``timeout`` passes
        (False). Messages may still wait for a receipt (``outbox.backlog()``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.outbox.unacked() == 0:
                return True
            time.sleep(0.02)
        return self.outbox.unacked() == 0

    # ------------------------------------------------------------------ MQTT
    def _make_will(self) -> DeviceStatus:
        with self._lock:
            fields = self._status_fields(Presence.OFFLINE, will=True)
            return self.stamper.make(DeviceStatus, seq=self.outbox.next_seq, **fields)

    def _on_connected(self, client: mqtt.Client, _session_present: bool) -> None:
        """A connection is up (the downlink is subscribed): send from the outbox over it,
        from the oldest message again, and queue the birth behind the backlog."""
        with self._send_lock:
            self._client = client
            self._last_handed = -1
            self._mid_seq.clear()
            self._early_acks.clear()
        self.counters.connects += 1
        with self._lock:
            self._append(DeviceStatus, **self._status_fields(Presence.ONLINE))

    def _on_lost(self, client: mqtt.Client, _reason: str) -> None:
        with self._send_lock:
            if self._client is client:
                self._client = None

    def _on_publish(self, c: mqtt.Client, _u: Any, mid: int, _rc: Any, _p: Any) -> None:
        with self._send_lock:
            if c is not self._client:
                return
            seq = self._mid_seq.pop(mid, None)
            if seq is None:
                self._early_acks.add(mid)
                return
        self.outbox.ack(seq)
        self.counters.acked += 1
        self._wake.set()

    def _sender_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            try:
                self._send_pending()
            except Exception:  # never let the sender die
                log.exception("sending from the outbox failed")

    def _send_pending(self) -> None:
        while not self._stop.is_set():
            with self._send_lock:
                client = self._client
                room = INFLIGHT_WINDOW - len(self._mid_seq)
                after = self._last_handed
                rewinds = self._rewinds
            if client is None or room <= 0:
                return
            rows = self.outbox.pending(after=after, limit=room)
            if not rows:
                return
            for row in rows:
                info = client.publish(row.topic, row.payload, qos=1, retain=row.retain)
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    return  # connection lost; the connection loop reconnects and we start over
                acked_early = False
                with self._send_lock:
                    if client is not self._client:
                        return
                    rewound = rewinds != self._rewinds  # a resend request: start over after this
                    if not rewound:
                        self._last_handed = row.seq
                    if info.mid in self._early_acks:
                        self._early_acks.discard(info.mid)
                        acked_early = True
                    else:
                        self._mid_seq[info.mid] = row.seq
                self.counters.published += 1
                if acked_early:
                    self.outbox.ack(row.seq)
                    self.counters.acked += 1
                if rewound:
                    break

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            command = decode(bytes(msg.payload), topic=msg.topic)
        except ProtocolError as exc:
            self.counters.bad_downlinks += 1
            log.warning("bad downlink on %s: %s", msg.topic, exc)
            return
        if isinstance(command, Receipt) and command.stream_source == self.device.id:
            self._on_receipt(command, retained_copy=bool(msg.retain))
            return
        if isinstance(command, CounterStateSet) and command.counter == self.device.counter:
            self._on_counter_state_set(command)
            return
        if not isinstance(command, DeviceCommand) or command.device != self.device.id:
            self.counters.bad_downlinks += 1
            log.warning("ignored downlink %s on %s", command.type, msg.topic)
            return
        self.counters.commands += 1
        if command.command in (DeviceCommandKind.OUT_OF_SERVICE_ON, DeviceCommandKind.OUT_OF_SERVICE_OFF):
            on = command.command == DeviceCommandKind.OUT_OF_SERVICE_ON
            if not self.set_out_of_service(on, "remote", command.detail):
                with self._lock:  # already so: confirm with the status all the same
                    self._publish_status()
        else:
            self.heartbeat()

    def _on_receipt(self, receipt: Receipt, *, retained_copy: bool) -> None:
        """Delete what the receipt covers; send again what is kept when it asks (a retained
        copy received on subscribing asks nothing: everything kept is sent after a connect)."""
        if self.receipts == "off" or receipt.stream_epoch != self.outbox.epoch:
            return
        self.counters.receipts += 1
        self.counters.covered += self.outbox.cover(receipt.committed_seq)
        if receipt.resend and not retained_copy:
            self.counters.resend_requests += 1
            with self._send_lock:
                self._last_handed = -1
                self._rewinds += 1
        self._wake.set()

    # ------------------------------------------------------------------ timers
    def _tick_loop(self) -> None:
        while not self._stop.wait(0.05):
            now = self.clock.monotonic()
            if self.connected and now >= self._next_heartbeat:
                self._next_heartbeat = now + self.heartbeat_s
                try:
                    self.heartbeat()
                except Exception:
                    log.exception("heartbeat failed")

    def _check_loop(self) -> None:
        while not self._stop.wait(0.1):
            for code, raised, detail in self._checks.run_due(self.clock.monotonic()):
                try:
                    if raised:
                        self.raise_fault(code, detail)
                    else:
                        self.clear_fault(code)
                except Exception:
                    log.exception("check result for %s could not be reported", code)


__all__ = ["AgentState", "DeviceAgent", "NotACounterTerminal"]
