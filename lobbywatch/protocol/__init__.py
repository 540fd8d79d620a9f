"""LobbyWatch MQTT protocol v1: messages, topics, validation and sequence numbers.

Read ``docs/protocol.md`` for the specification; this package is its reference
implementation.
"""

from lobbywatch.protocol.codec import (
    MAX_PAYLOAD_BYTES,
    FieldError,
    ProtocolError,
    decode,
    decode_obj,
    encode,
    new_message_id,
    to_dict,
)
from lobbywatch.protocol.messages import (
    MESSAGE_TYPES,
    PROTOCOL_VERSION,
    AlertNotice,
    CameraStatus,
    CounterState,
    CounterStateSet,
    DeviceCommand,
    DeviceEvent,
    DeviceHeartbeat,
    DeviceInfo,
    DeviceStatus,
    Envelope,
    LocalizedText,
    LongWait,
    Message,
    Receipt,
    VisitPoint,
    VisitRecord,
    Vitals,
    WaitRecord,
    ZoneState,
)
from lobbywatch.protocol.sequence import SequenceTracker, Stamper, Verdict, stream_key
from lobbywatch.protocol.tickets import TicketEvent, WaitBoard
from lobbywatch.protocol.topics import parse_topic, topic_for

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "MESSAGE_TYPES",
    "PROTOCOL_VERSION",
    "AlertNotice",
    "CameraStatus",
    "CounterState",
    "CounterStateSet",
    "DeviceCommand",
    "DeviceEvent",
    "DeviceHeartbeat",
    "DeviceInfo",
    "DeviceStatus",
    "Envelope",
    "FieldError",
    "LocalizedText",
    "LongWait",
    "Message",
    "ProtocolError",
    "Receipt",
    "SequenceTracker",
    "Stamper",
    "TicketEvent",
    "Verdict",
    "VisitPoint",
    "VisitRecord",
    "Vitals",
    "WaitBoard",
    "WaitRecord",
    "ZoneState",
    "decode",
    "decode_obj",
    "encode",
    "new_message_id",
    "parse_topic",
    "stream_key",
    "to_dict",
    "topic_for",
]
