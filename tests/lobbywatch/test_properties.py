"""Faults tried on purpose: the protocol decoder and the gateway's classification, given
anything (random bytes, any JSON, the example messages mutated), answer a message or a
:class:`ProtocolError` naming what is wrong (a verdict, for ``classify``), never another
exception; what decodes re-encodes to bytes that decode to an equal message."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.classify import Ignored, classify
from gateway.outbox import NewMessage, Quarantined
from lobbywatch.protocol.codec import ProtocolError, decode, decode_obj, encode
from lobbywatch.protocol.examples import EXAMPLES
from lobbywatch.protocol.messages import MESSAGE_TYPES, Envelope
from lobbywatch.protocol.topics import ROOT, topic_for
from tests.helpers_properties import THOROUGH, json_values, mutated_messages, payloads

SITE = str(EXAMPLES["zone_state"]["site"])
#: Reasons ProtocolError gives; a new one must be added here knowingly.
FIELDS = {name for model in MESSAGE_TYPES.values() for name in model.model_fields}
REASONS = {"oversized", "not_json", "not_object", "version", "unknown_type", "schema", "topic"}


def _decoded_or_named(payload: bytes, topic: str | None = None) -> Envelope | None:
    """Decode; a refusal must be a ProtocolError with a known reason and a text naming it."""
    try:
        return decode(payload, topic)
    except ProtocolError as exc:
        refusal = exc
    assert refusal.reason in REASONS, refusal.reason
    assert refusal.errors
    assert all(e.message for e in refusal.errors)
    if refusal.reason in ("version", "unknown_type", "topic"):
        assert all(e.field for e in refusal.errors), refusal.errors  # names the field
    if refusal.reason == "schema":  # a field, or a rule across fields that names them
        assert all(e.field or any(f in e.message for f in FIELDS) for e in refusal.errors), refusal.errors
    return None


def _round_trips(message: Envelope) -> None:
    again = decode(encode(message), topic_for(message))
    assert again == message
    assert encode(again) == encode(message)


@THOROUGH
@given(payloads())
def test_any_payload_decodes_or_names_what_is_wrong(payload: bytes) -> None:
    message = _decoded_or_named(payload)
    if message is not None:
        _round_trips(message)


@THOROUGH
@given(json_values())
def test_any_json_value_decodes_or_names_what_is_wrong(value: Any) -> None:
    message = _decoded_or_named(json.dumps(value).encode())
    if message is not None:
        _round_trips(message)


@THOROUGH
@given(mutated_messages())
def test_a_mutated_message_decodes_or_names_the_field(data: dict[str, Any]) -> None:
    """Through both doors: the bytes (gateway) and the parsed object (server)."""
    from_bytes = _decoded_or_named(json.dumps(data).encode())
    try:
        from_object: Envelope | None = decode_obj(data)
    except ProtocolError:
        from_object = None
    if from_bytes is not None:
        assert from_object == from_bytes
        _round_trips(from_bytes)


_TOPICS = st.one_of(
    st.text(max_size=60),
    st.builds(lambda rest: f"{ROOT}/{SITE}/{rest}", st.text(max_size=40)),
    st.sampled_from([topic_for(decode_obj(m)) for m in EXAMPLES.values()]),
    st.sampled_from([f"{ROOT}/other-site/device/k1/event", f"{ROOT}/{SITE}/downlink/alert", ""]),
)


@THOROUGH
@given(_TOPICS, payloads(), st.floats(min_value=0, max_value=4e9))
def test_classify_gives_a_verdict_for_anything(topic: str, payload: bytes, received_at: float) -> None:
    verdict = classify(SITE, topic, payload, received_at)
    assert isinstance(verdict, NewMessage | Quarantined | Ignored)
    if isinstance(verdict, Quarantined):
        assert verdict.reason
        assert verdict.detail
        assert verdict.payload == payload
    if isinstance(verdict, NewMessage):  # stored canonical: it decodes, on its topic, to itself
        message = decode(verdict.body.encode(), topic)
        assert encode(message).decode() == verdict.body
        assert message.site == SITE


def test_nesting_deeper_than_the_parser_goes_is_not_json() -> None:
    """Found by the properties: the parser's RecursionError escaped decode()."""
    with pytest.raises(ProtocolError, match="nested too deeply") as info:
        decode(b"[" * 5000 + b"]" * 5000)
    assert info.value.reason == "not_json"


def test_an_unknown_empty_key_is_named() -> None:
    """Found by the properties: an unknown field named "" was reported with no name."""
    with pytest.raises(ProtocolError, match=r'^"": unknown field$'):
        decode_obj({**EXAMPLES["device_heartbeat"], "": 1})
