"""Protocol v1: round trips, rejections naming the field, topics, sequence tracking, schemas."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from lobbywatch.clock import FixedClock
from lobbywatch.protocol import (
    MAX_PAYLOAD_BYTES,
    MESSAGE_TYPES,
    DeviceEvent,
    DeviceHeartbeat,
    ProtocolError,
    SequenceTracker,
    Stamper,
    Verdict,
    decode,
    decode_obj,
    encode,
    parse_topic,
    stream_key,
    topic_for,
)
from lobbywatch.protocol.examples import EXAMPLES
from system.cli import app


def test_every_message_type_has_an_example() -> None:
    assert set(EXAMPLES) == set(MESSAGE_TYPES)


@pytest.mark.parametrize("type_name", sorted(EXAMPLES))
def test_round_trip_of_every_message_type(type_name: str) -> None:
    message = decode_obj(EXAMPLES[type_name])
    assert type(message) is MESSAGE_TYPES[type_name]
    again = decode(encode(message), topic=topic_for(message))
    assert again == message
    assert json.loads(encode(again))["type"] == type_name


@pytest.mark.parametrize("type_name", sorted(EXAMPLES))
def test_topic_parses_back_to_site_and_owner(type_name: str) -> None:
    message = decode_obj(EXAMPLES[type_name])
    info = parse_topic(topic_for(message))
    assert info is not None
    assert info.site == message.site


def _broken(type_name: str, **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(EXAMPLES[type_name])
    for key, value in changes.items():
        if value is ...:
            del data[key]
        else:
            data[key] = value
    return data


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        (_broken("zone_state", occupancy="many"), "occupancy", "valid number"),
        (_broken("zone_state", count=-1), "count", "greater than or equal to 0"),
        (_broken("zone_state", colour="red"), "colour", "unknown field"),
        (_broken("zone_state", zone=...), "zone", "required field is missing"),
        (_broken("device_event", code="paper out"), "code", "should match pattern"),
        (_broken("device_event", code=...), "", "code is required"),
        (
            _broken("device_status", info={"kind": "toaster", "vendor": "v", "model": "m"}),
            "info.kind",
            "Input should be",
        ),
        (_broken("device_heartbeat", ts="2026-11-23T01:30:00"), "ts", "UTC offset"),
        (_broken("device_heartbeat", seq=2**60), "seq", "less than or equal"),
        (_broken("device_heartbeat", site="Hall 1"), "site", "should match pattern"),
        (_broken("wait_record", duration_s=5.0), "", "differs from ended - started"),
        (_broken("zone_state", kind="entrance"), "", "queue_length is only sent"),
    ],
)
def test_rejections_name_the_field(data: dict[str, Any], field: str, fragment: str) -> None:
    with pytest.raises(ProtocolError) as info:
        decode_obj(data)
    assert any(e.field == field and fragment in e.message for e in info.value.errors), str(info.value)


def test_wrong_version_is_rejected_before_anything_else() -> None:
    with pytest.raises(ProtocolError, match="unsupported protocol version 2") as info:
        decode_obj(_broken("device_event", v=2, colour="red"))
    assert info.value.reason == "version"


def test_unknown_type_lists_the_known_ones() -> None:
    with pytest.raises(ProtocolError, match=r"unknown message type 'selfie'.*zone_state"):
        decode_obj(_broken("device_event", type="selfie"))


@pytest.mark.parametrize("payload", [b"\xff\xfe\x00garbage", b"[1, 2]", b"", b"null"])
def test_garbage_is_a_protocol_error(payload: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode(payload)


def test_oversized_payload_is_rejected_by_size() -> None:
    data = _broken("device_event", detail="x" * 100)
    payload = json.dumps(data).encode() + b" " * MAX_PAYLOAD_BYTES
    with pytest.raises(ProtocolError, match="over the 16384 limit") as info:
        decode(payload)
    assert info.value.reason == "oversized"


def test_message_on_the_wrong_topic_is_rejected() -> None:
    payload = json.dumps(EXAMPLES["device_event"]).encode()
    with pytest.raises(ProtocolError, match="belongs on 'lobbywatch/v1/sh-pudong-01/device"):
        decode(payload, topic="lobbywatch/v1/sh-pudong-01/device/other-kiosk/event")


def test_timestamps_are_normalised_to_utc() -> None:
    msg = decode_obj(_broken("device_heartbeat", ts="2026-11-23T09:30:00+08:00"))
    assert msg.ts.isoformat() == "2026-11-23T01:30:00+00:00"


@given(st.lists(st.integers(min_value=0, max_value=60), max_size=200))
def test_tracker_counts_each_number_once(seqs: list[int]) -> None:
    tracker = SequenceTracker()
    accepted: list[int] = []
    for s in seqs:
        if tracker.observe("k", s).verdict is not Verdict.DUPLICATE:
            accepted.append(s)
    assert sorted(accepted) == sorted(set(seqs))
    if seqs:
        assert tracker.missing == len(set(range(min(seqs), max(seqs) + 1)) - set(seqs))


def test_tracker_reports_gap_late_and_duplicate() -> None:
    t = SequenceTracker()
    assert t.observe("a", 5).verdict is Verdict.OK
    gap = t.observe("a", 9)
    assert (gap.verdict, gap.missing) == (Verdict.GAP, 3)
    assert t.open_gaps("a") == [(6, 8)]
    assert t.observe("a", 7).verdict is Verdict.LATE
    assert t.open_gaps("a") == [(6, 6), (8, 8)]
    assert t.observe("a", 7).verdict is Verdict.DUPLICATE
    assert t.observe("a", 5).verdict is Verdict.DUPLICATE
    assert t.observe("a", 3).verdict is Verdict.LATE  # older than the first seen: not lost
    assert t.open_gaps("a") == [(4, 4), (6, 6), (8, 8)]
    assert (t.missing, t.duplicates, t.gaps) == (3, 2, 1)
    assert t.observe("b", 0).verdict is Verdict.OK  # streams are independent


def test_stamper_numbers_consecutively_and_persists(clock: FixedClock) -> None:
    saved: list[int] = []
    stamper = Stamper("h1", "k1", clock=clock, epoch=3, next_seq=10, on_seq=saved.append)
    first = stamper.make(DeviceHeartbeat, uptime_s=1, interval_s=30)
    clock.advance(30)
    second = stamper.make(DeviceEvent, event="out_of_service_on", by="hand")
    assert (first.seq, second.seq, saved) == (10, 11, [10, 11])
    assert stream_key(second) == ("h1", "k1", 3)
    assert second.ts > first.ts
    assert first.id != second.id


def test_schema_command_writes_schemas_that_accept_examples_and_reject_errors(
    tmp_path: Path,
) -> None:
    result = CliRunner().invoke(app, ["protocol", "schema", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    files = sorted(tmp_path.glob("*.schema.json"))
    assert [f.name.removesuffix(".schema.json") for f in files] == sorted(MESSAGE_TYPES)
    for path in files:
        schema = json.loads(path.read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        validator = jsonschema.Draft202012Validator(schema)
        type_name = path.name.removesuffix(".schema.json")
        validator.validate(EXAMPLES[type_name])
        assert not validator.is_valid(_broken(type_name, unknown_field=1))
        assert not validator.is_valid(_broken(type_name, seq=-1))
        assert not validator.is_valid(_broken(type_name, v=2))
    event_schema = json.loads((tmp_path / "device_event.schema.json").read_text())
    assert not jsonschema.Draft202012Validator(event_schema).is_valid(
        _broken("device_event", type="device_status")
    )


def test_validate_command_reports_field_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_broken("device_heartbeat", uptime_s="long")))
    result = CliRunner().invoke(app, ["protocol", "validate", str(bad)])
    assert result.exit_code == 1
    assert "uptime_s" in result.output


def test_protocol_doc_reference_is_current() -> None:
    from lobbywatch.protocol.reference import DOC, refreshed

    text = DOC.read_text(encoding="utf-8")
    assert refreshed(text) == text, "run: python -m lobbywatch.protocol.reference --write"
