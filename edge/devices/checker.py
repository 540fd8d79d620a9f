"""The protocol v1 conformance checker for devices: what a kiosk vendor runs against its own
implementation (``lobbywatch protocol check``).

It subscribes to a hall's device topics for a while and judges every message:

* **schema** — each payload must decode as a v1 message that belongs on its topic
  (:func:`lobbywatch.protocol.decode` with the topic);
* **sequence** — per (device, epoch) numbers follow one another with no gaps or duplicates
  (:class:`SequenceTracker`); last-will messages are exempt. A device that honours delivery
  receipts sends again, with the same ``id``, what no receipt covered yet after it lost its
  connection (its will arrived) or when a receipt asked for it (``resend``); such a copy is
  noted, not failed. A device that ignores receipts conforms as well (docs/protocol.md says
  what it can lose);
* **retained status** — the broker must hold a retained ``device_status`` for the device
  (it arrives first, with the retain flag, right after subscribing);
* **birth** — an online status must carry ``info`` (device metadata) and ``heartbeat_s``;
* **heartbeat** — heartbeats come at least every ``heartbeat_s`` (with 50 % + 1 s slack) as
  promised by the status, and each heartbeat's ``interval_s`` matches it;
* **last-will** — a will is set in the device's MQTT CONNECT packet, which no other client can
  see. The checker therefore proves it by observation: a retained status with ``will: true``
  (the device is offline right now) passes; with ``--expect-will`` the vendor pulls the
  device's network or kills its agent during the window, and the check passes only if the
  broker publishes the device's will (``state: offline, will: true``). Without either, the
  line reads "not observed" and does not fail the device.

:class:`ConformanceChecker` is the pure core (fed messages, returns reports);
:func:`run_check` does the MQTT part.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from lobbywatch.config.site import BrokerConfig
from lobbywatch.protocol.codec import ProtocolError, decode
from lobbywatch.protocol.enums import Presence
from lobbywatch.protocol.messages import DeviceHeartbeat, DeviceStatus, Envelope, Receipt
from lobbywatch.protocol.sequence import SequenceTracker, Verdict
from lobbywatch.protocol.topics import device_prefix, parse_topic, receipt_topic, site_root

#: Heartbeats may be late by this share of the promised interval, plus :data:`HEARTBEAT_SLACK_S`.
HEARTBEAT_TOLERANCE = 0.5
HEARTBEAT_SLACK_S = 1.0


@dataclass
class DeviceReport:
    """What the checker found about one device."""

    device: str
    messages: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    retained_status: bool = False
    will_seen: bool = False
    heartbeat_s: float | None = None
    heartbeats: list[float] = field(default_factory=list)  # arrival times, monotonic
    first_seen: float | None = None
    resends: int = 0  # copies sent again after a reconnect or a receipt's request
    resend_asked_at: float | None = None  # the latest will or resend request

    @property
    def passed(self) -> bool:
        return not self.problems

    def problem(self, text: str) -> None:
        if text not in self.problems and len(self.problems) < 50:
            self.problems.append(text)


class ConformanceChecker:
    """Judges messages of one hall as they arrive; :meth:`finish` returns one report per device."""

    def __init__(self, site: str, device: str | None = None, *, expect_will: bool = False) -> None:
        self.site = site
        self.device = device
        self.expect_will = expect_will
        self.reports: dict[str, DeviceReport] = {}
        self._seq = SequenceTracker()
        self._first: dict[tuple[str, str, int, int], tuple[str, float]] = {}  # -> (id, arrival)
        self._started: float | None = None

    def _report(self, device: str) -> DeviceReport:
        if device not in self.reports:
            self.reports[device] = DeviceReport(device)
        return self.reports[device]

    def start(self, now: float) -> None:
        self._started = now
        if self.device is not None:
            self._report(self.device)

    def feed(self, topic: str, payload: bytes, *, retained: bool, now: float) -> None:
        """Judge one message received on ``topic`` at monotonic ``now``."""
        info = parse_topic(topic)
        parts = topic.split("/")
        under = f"{site_root(self.site)}/device/"
        if info is None or info.owner is None:
            if topic.startswith(under) and len(parts) > 4 and parts[4] != "":
                owner = parts[4]
                if self.device is None or owner == self.device:
                    self._report(owner).messages += 1
                    self._report(owner).problem(f"topic: {topic} is not a protocol v1 device topic")
            return
        if info.site == self.site and info.branch == "receipt":
            self._receipt(topic, payload, info.owner, retained=retained, now=now)
            return
        if info.site != self.site or info.branch != "device":
            return
        if self.device is not None and info.owner != self.device:
            return
        rep = self._report(info.owner)
        rep.messages += 1
        if rep.first_seen is None:
            rep.first_seen = now
        if info.leaf == "downlink":
            return  # commands to the device are not the device's to get right
        try:
            msg = decode(payload, topic=topic)
        except ProtocolError as exc:
            rep.problem(f"schema: message on {topic} is invalid: {exc}")
            return
        if msg.source != info.owner:  # decode already checks the topic; kept for clarity
            rep.problem(f"schema: message on {topic} names source {msg.source!r}")
        if isinstance(msg, DeviceStatus):
            self._status(rep, msg, retained)
        if msg.is_will:
            rep.resend_asked_at = now  # the device lost its connection: it may send again
        if not msg.is_will and not retained:
            obs = self._seq.observe((msg.site, msg.source, msg.epoch), msg.seq)
            if obs.verdict == Verdict.GAP:
                rep.problem(
                    f"sequence: {obs.missing} number(s) skipped before seq {msg.seq} (epoch {msg.epoch})"
                )
            elif obs.verdict == Verdict.DUPLICATE:
                if self._resent(rep, msg):
                    rep.resends += 1
                else:
                    rep.problem(f"sequence: seq {msg.seq} (epoch {msg.epoch}) arrived twice")
            elif obs.verdict == Verdict.LATE:
                rep.problem(f"sequence: seq {msg.seq} (epoch {msg.epoch}) arrived out of order")
            self._first.setdefault((msg.site, msg.source, msg.epoch, msg.seq), (msg.id, now))
        if isinstance(msg, DeviceHeartbeat):
            rep.heartbeats.append(now)
            if rep.heartbeat_s is not None and abs(msg.interval_s - rep.heartbeat_s) > 1e-6:
                rep.problem(
                    f"heartbeat: interval_s {msg.interval_s} differs from the status's heartbeat_s "
                    f"{rep.heartbeat_s}"
                )

    def _resent(self, rep: DeviceReport, msg: Envelope) -> bool:
        """Whether a repeated number is the same message sent again when it was allowed to be."""
        first = self._first.get((msg.site, msg.source, msg.epoch, msg.seq))
        asked = rep.resend_asked_at
        return first is not None and first[0] == msg.id and asked is not None and first[1] <= asked

    def _receipt(self, topic: str, payload: bytes, device: str | None, *, retained: bool, now: float) -> None:
        """A gateway's receipt for a device: note a live request to send again."""
        if device is None or device not in self.reports or retained:
            return
        try:
            receipt = decode(payload, topic=topic)
        except ProtocolError:
            return  # the gateway's message, not the device's to get right
        if isinstance(receipt, Receipt) and receipt.resend:
            self.reports[device].resend_asked_at = now

    def _status(self, rep: DeviceReport, msg: DeviceStatus, retained: bool) -> None:
        if retained:
            rep.retained_status = True
        if msg.will:
            rep.will_seen = True
            if msg.state != Presence.OFFLINE:
                rep.problem("last-will: a will status must say state offline")
            return
        if msg.state == Presence.ONLINE:
            if msg.info is None:
                rep.problem("birth: online status carries no info (kind, vendor, model, ...)")
            if msg.heartbeat_s is None:
                rep.problem("birth: online status does not promise a heartbeat_s")
            else:
                rep.heartbeat_s = msg.heartbeat_s

    def finish(self, now: float) -> list[DeviceReport]:
        """Close the window at ``now`` and judge what did not happen."""
        started = self._started if self._started is not None else now
        window = now - started
        for rep in self.reports.values():
            if rep.messages == 0:
                rep.problem(f"nothing received from the device in {window:.0f}s")
                continue
            if not rep.retained_status:
                rep.problem(
                    "retained status: the broker holds no retained device_status (publish status with retain)"
                )
            promised = rep.heartbeat_s
            if promised is None:
                if not rep.will_seen:
                    rep.problem("heartbeat: no status told the promised heartbeat_s")
            else:
                limit = promised * (1 + HEARTBEAT_TOLERANCE) + HEARTBEAT_SLACK_S
                beats = rep.heartbeats
                if not beats and window >= limit and not rep.will_seen:
                    rep.problem(f"heartbeat: none in {window:.0f}s although heartbeat_s is {promised}")
                for a, b in itertools.pairwise(beats):
                    if b - a > limit:
                        rep.problem(f"heartbeat: {b - a:.1f}s between heartbeats, promised {promised}s")
                        break
                if beats and not rep.will_seen and now - beats[-1] > limit:
                    rep.problem(
                        f"heartbeat: last one {now - beats[-1]:.1f}s before the end, promised {promised}s"
                    )
            if rep.resends:
                rep.notes.append(
                    f"receipts: {rep.resends} message(s) sent again after a reconnect or a receipt's request"
                )
            if rep.will_seen:
                rep.notes.append("last-will: observed (broker published the device's will)")
            elif self.expect_will:
                rep.problem("last-will: no will status arrived although the device was to be disconnected")
            else:
                rep.notes.append("last-will: not observed (run with --expect-will and cut the device off)")
        return sorted(self.reports.values(), key=lambda r: r.device)


def format_report(reports: list[DeviceReport]) -> str:
    """Human-readable pass/fail lines, one block per device."""
    if not reports:
        return "FAIL: no device published anything / 未收到任何设备消息"
    lines: list[str] = []
    for rep in reports:
        verdict = "PASS 通过" if rep.passed else "FAIL 不通过"
        lines.append(f"{verdict}  {rep.device}  ({rep.messages} messages)")
        lines += [f"  - {p}" for p in rep.problems]
        lines += [f"  · {n}" for n in rep.notes]
    return "\n".join(lines)


def run_check(
    broker: BrokerConfig,
    site: str,
    device: str | None,
    seconds: float,
    *,
    password: str | None = None,
    expect_will: bool = False,
) -> list[DeviceReport]:
    """Subscribe for ``seconds`` and judge every device message of ``site`` (or of ``device``)."""
    import paho.mqtt.client as mqtt

    from lobbywatch.mqtt import connect_and_wait, make_client

    checker = ConformanceChecker(site, device, expect_will=expect_will)
    lock = threading.Lock()
    subscribed = threading.Event()
    filt = f"{device_prefix(site, device)}/#" if device else f"{site_root(site)}/device/#"
    receipts = receipt_topic(site, device) if device else f"{site_root(site)}/receipt/+"
    client = make_client(f"lw-check-{uuid.uuid4().hex[:8]}", broker, password=password)

    def on_connect(c: mqtt.Client, *_: Any) -> None:
        c.subscribe([(filt, 1), (receipts, 1)])

    def on_subscribe(*_: Any) -> None:
        subscribed.set()

    def on_message(_c: mqtt.Client, _u: Any, m: mqtt.MQTTMessage) -> None:
        with lock:
            checker.feed(m.topic, bytes(m.payload), retained=bool(m.retain), now=time.monotonic())

    client.on_message = on_message
    client.on_subscribe = on_subscribe
    checker.start(time.monotonic())
    client.on_connect = on_connect
    connect_and_wait(client, broker)
    try:
        subscribed.wait(10)
        time.sleep(seconds)  # the observation window itself
    finally:
        client.loop_stop()
        client.disconnect()
    with lock:
        return checker.finish(time.monotonic())


__all__ = ["ConformanceChecker", "DeviceReport", "format_report", "run_check"]
