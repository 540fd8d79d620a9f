"""Queue-ticket events (protocol v1 ``ticket_event``): validation, topic, schema."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from lobbywatch.protocol.codec import MAX_PAYLOAD_BYTES, ProtocolError, decode, decode_obj, encode
from lobbywatch.protocol.examples import EXAMPLES
from lobbywatch.protocol.schema import message_schema
from lobbywatch.protocol.tickets import TicketEvent
from lobbywatch.protocol.topics import parse_topic, ticket_event_topic, topic_for


def _ticket(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(EXAMPLES["ticket_event"])
    for key, value in changes.items():
        if value is ...:
            del data[key]
        else:
            data[key] = value
    return data


def test_ticket_event_round_trips_on_the_ticket_systems_topic() -> None:
    message = decode_obj(_ticket())
    assert isinstance(message, TicketEvent)
    topic = topic_for(message)
    assert (
        topic
        == ticket_event_topic("sh-pudong-01", "qms-main")
        == ("lobbywatch/v1/sh-pudong-01/ticket/qms-main/event")
    )
    assert decode(encode(message), topic=topic) == message
    info = parse_topic(topic)
    assert info is not None
    assert (info.branch, info.owner, info.leaf) == ("ticket", "qms-main", "event")


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        (_ticket(event="lost"), "event", "Input should be"),
        (_ticket(ticket=23), "ticket", "valid string"),
        (_ticket(ticket="A 23"), "ticket", "should match pattern"),
        (_ticket(colour="red"), "colour", "unknown field"),
        (_ticket(business=...), "business", "required field is missing"),
        (_ticket(issued_at="2026-11-23T01:18:40"), "issued_at", "UTC offset"),
        (_ticket(counter=...), "", "counter is required for service_started"),
        (_ticket(event="transferred"), "", "name to_counter or to_business"),
        (_ticket(to_counter="c2"), "", "only sent with transferred"),
        (_ticket(issued_at="2026-11-23T02:00:00Z"), "", "issued_at is after ts"),
    ],
)
def test_bad_ticket_events_name_the_field(data: dict[str, Any], field: str, fragment: str) -> None:
    with pytest.raises(ProtocolError) as info:
        decode_obj(data)
    assert info.value.reason == "schema"
    assert any(e.field == field and fragment in e.message for e in info.value.errors), str(info.value)


def test_issued_and_transferred_need_no_counter() -> None:
    issued = decode_obj(_ticket(event="issued", counter=...))
    assert isinstance(issued, TicketEvent)
    assert issued.counter is None
    moved = decode_obj(_ticket(event="transferred", counter=..., to_business="sim_replacement"))
    assert isinstance(moved, TicketEvent)
    assert moved.to_business == "sim_replacement"


def test_oversized_ticket_event_is_rejected_by_size() -> None:
    payload = json.dumps(_ticket()).encode() + b" " * MAX_PAYLOAD_BYTES
    with pytest.raises(ProtocolError, match="over the 16384 limit") as info:
        decode(payload)
    assert info.value.reason == "oversized"


def test_ticket_schema_requires_the_tag_and_lists_the_events() -> None:
    schema = message_schema(TicketEvent)
    assert {"type", "v", "event", "ticket", "business", "issued_at"} <= set(schema["required"])
    assert schema["properties"]["type"] == {"const": "ticket_event", "type": "string"}
    assert schema["additionalProperties"] is False
