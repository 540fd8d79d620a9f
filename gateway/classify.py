"""What the gateway does with one MQTT message (:func:`classify`): ignore it (downlinks,
retained-clear payloads), quarantine it with a reason (not a valid v1 message on its own
topic of this hall, or dated ahead of the gateway's clock), or store it in its canonical
encoding with its delivery class. The rules: ``docs/gateway.md``, "Classification".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.outbox import NewMessage, Quarantined
from lobbywatch.protocol.codec import ProtocolError, decode, encode
from lobbywatch.protocol.timecheck import clock_problem
from lobbywatch.protocol.topics import parse_topic


@dataclass(frozen=True, slots=True)
class Ignored:
    why: str


Verdict = NewMessage | Quarantined | Ignored


def classify(site: str, topic: str, payload: bytes, received_at: float) -> Verdict:
    """Judge one message received on ``topic`` by the gateway of hall ``site``."""
    if not payload:
        return Ignored("empty payload (retained message cleared)")
    info = parse_topic(topic)
    if info is not None and (info.branch == "downlink" or info.leaf == "downlink"):
        return Ignored("downlink topic")

    def bad(reason: str, detail: str) -> Quarantined:
        return Quarantined(received_at, topic, reason, detail, payload)

    if info is None:
        return bad("unknown_topic", f"topic {topic!r} is not a protocol v1 topic")
    if info.site != site:
        return bad("wrong_site", f"topic names site {info.site!r}; this gateway serves {site!r}")
    try:
        message = decode(payload, topic)
    except ProtocolError as exc:
        return bad(exc.reason, str(exc))
    if message.DIRECTION != "up":
        return Ignored("downlink message")
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError as exc:  # JSON in UTF-16/32 parses, but the protocol says UTF-8
        return bad("not_utf8", f"payload is not UTF-8: {exc}")
    ahead = clock_problem(message.ts, datetime.fromtimestamp(received_at, UTC), max_age_days=math.inf)
    if ahead is not None:
        return bad("clock", ahead)
    return NewMessage(
        msg_id=message.id,
        source=message.source,
        delivery=message.DELIVERY,
        received_at=received_at,
        body=encode(message).decode(),  # what was validated, never the device's own bytes
    )
