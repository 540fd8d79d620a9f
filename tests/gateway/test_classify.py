"""What the gateway stores is what it validated: canonical bytes, and no message dated where no
clock can be (such a message once stopped a hall's uploads and its site series)."""

from __future__ import annotations

import json
from datetime import datetime

import orjson

from gateway.classify import classify
from gateway.outbox import NewMessage, Quarantined
from lobbywatch.protocol.codec import decode, encode
from tests.gateway.helpers_streams import TS, device_stream

SITE = "h1"
RECEIVED = datetime.fromisoformat(TS).timestamp()


def test_a_byte_order_mark_and_odd_spacing_never_reach_the_server() -> None:
    msg = device_stream(SITE, 1, sources=1)[0]
    odd = b"\xef\xbb\xbf" + json.dumps(json.loads(msg.payload), indent=3, ensure_ascii=True).encode()
    verdict = classify(SITE, msg.topic, odd, RECEIVED)
    assert isinstance(verdict, NewMessage)
    assert verdict.body.encode() == encode(decode(msg.payload))
    assert orjson.loads(verdict.body)["id"] == verdict.msg_id  # what the server parses


def test_a_message_from_the_future_is_quarantined_for_its_clock() -> None:
    msg = device_stream(SITE, 1, sources=1)[0]
    for ts in ("9999-12-31T00:00:00Z", "2026-11-23T01:40:00Z"):
        future = json.dumps({**json.loads(msg.payload), "ts": ts}).encode()
        verdict = classify(SITE, msg.topic, future, RECEIVED)
        assert isinstance(verdict, Quarantined)
        assert (verdict.reason, "ahead of the receiver" in verdict.detail) == ("clock", True)
    near = json.dumps({**json.loads(msg.payload), "ts": "2026-11-23T01:34:00Z"}).encode()
    assert isinstance(classify(SITE, msg.topic, near, RECEIVED), NewMessage)  # 4 min: drift
    old = json.dumps({**json.loads(msg.payload), "ts": "2025-01-01T00:00:00Z"}).encode()
    assert isinstance(classify(SITE, msg.topic, old, RECEIVED), NewMessage)  # the server's call
