"""Encoding and validating protocol messages.

:func:`decode` is the single entry point for untrusted bytes, used by the gateway, the
server and the conformance checker alike. It never raises anything but
:class:`ProtocolError`, whose text names the offending field.

>>> from lobbywatch.protocol.messages import DeviceHeartbeat
>>> hb = DeviceHeartbeat(v=1, id="0123456789abcdef", site="h1", source="k1", epoch=0, seq=3,
...                      ts="2026-11-23T09:00:00Z", uptime_s=5, interval_s=30)
>>> decode(encode(hb), topic="lobbywatch/v1/h1/device/k1/heartbeat") == hb
True
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from lobbywatch.protocol.messages import MESSAGE_TYPES, PROTOCOL_VERSION, Envelope
from lobbywatch.protocol.topics import topic_for

#: Largest payload accepted, in bytes. The largest legitimate message is well under 4 KiB.
MAX_PAYLOAD_BYTES = 16 * 1024


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class ProtocolError(ValueError):
    """A payload that is not a valid protocol v1 message. ``errors`` names each bad field."""

    def __init__(self, errors: list[FieldError], *, reason: str = "invalid") -> None:
        self.errors = errors
        self.reason = reason
        super().__init__("; ".join(str(e) for e in errors))


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + (part or '""')  # an empty key is named, too
    return path


def errors_from_validation(exc: ValidationError, *, skip_first: bool = False) -> list[FieldError]:
    out: list[FieldError] = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        if skip_first and loc:
            loc = loc[1:]  # drop the union tag pydantic puts first
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "missing":
            msg = "required field is missing"
        out.append(FieldError(_field_path(loc), msg))
    return out


def new_message_id() -> str:
    """A fresh, unique message id (UUID4, 32 hex digits)."""
    return uuid.uuid4().hex


def encode(message: Envelope) -> bytes:
    """Compact UTF-8 JSON, with the envelope first and unset optional fields left out."""
    return message.model_dump_json(by_alias=True, exclude_none=True).encode()


def to_dict(message: Envelope) -> dict[str, Any]:
    """The message as JSON-ready data (the same content :func:`encode` writes)."""
    data: dict[str, Any] = message.model_dump(mode="json", by_alias=True, exclude_none=True)
    return data


def decode(payload: bytes | str, topic: str | None = None) -> Envelope:
    """Validate ``payload`` as a v1 message; when ``topic`` is given it must match the message.

    Raises :class:`ProtocolError` naming what is wrong.
    """
    raw = payload.encode() if isinstance(payload, str) else payload
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise ProtocolError(
            [FieldError("", f"payload is {len(raw)} bytes, over the {MAX_PAYLOAD_BYTES} limit")],
            reason="oversized",
        )
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError([FieldError("", f"not JSON: {exc}")], reason="not_json") from None
    except RecursionError:  # "[[[[...": nested deeper than the parser goes (no message is)
        raise ProtocolError([FieldError("", "not JSON: nested too deeply")], reason="not_json") from None
    return decode_obj(data, topic)


def decode_obj(data: Any, topic: str | None = None) -> Envelope:
    """Validate already-parsed JSON data (see :func:`decode`)."""
    if not isinstance(data, dict):
        raise ProtocolError([FieldError("", "message must be a JSON object")], reason="not_object")
    version = data.get("v")
    if version != PROTOCOL_VERSION:
        raise ProtocolError(
            [FieldError("v", f"unsupported protocol version {version!r}; expected 1")],
            reason="version",
        )
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in MESSAGE_TYPES:
        known = ", ".join(sorted(MESSAGE_TYPES))
        raise ProtocolError(
            [FieldError("type", f"unknown message type {kind!r}; expected one of {known}")],
            reason="unknown_type",
        )
    try:
        message = MESSAGE_TYPES[kind].model_validate(data)
    except ValidationError as exc:
        raise ProtocolError(errors_from_validation(exc), reason="schema") from None
    if topic is not None:
        expected = topic_for(message)
        if topic != expected:
            raise ProtocolError(
                [FieldError("topic", f"message arrived on {topic!r} but belongs on {expected!r}")],
                reason="topic",
            )
    return message


__all__ = [
    "MAX_PAYLOAD_BYTES",
    "FieldError",
    "ProtocolError",
    "decode",
    "decode_obj",
    "encode",
    "errors_from_validation",
    "new_message_id",
    "to_dict",
]
