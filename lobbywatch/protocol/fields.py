"""Constrained field types shared by every protocol message.

Identifiers travel inside MQTT topic levels, so they may not contain ``/``, ``+`` or
``#``; they are lower-case ASCII so that a kiosk written in any language produces the
same topic.

>>> from pydantic import TypeAdapter
>>> TypeAdapter(Identifier).validate_python("hall-001")
'hall-001'
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
FAULT_CODE_PATTERN = r"^[A-Z][A-Z0-9_]{1,47}$"
MESSAGE_ID_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"

#: Largest sequence number: 2**53 - 1, the largest integer a JavaScript kiosk can hold exactly.
MAX_SEQ = 2**53 - 1

Identifier = Annotated[
    str,
    StringConstraints(pattern=ID_PATTERN),
    Field(description="Lower-case id: letters, digits, '-' and '_', 1-64 characters."),
]
FaultCode = Annotated[
    str,
    StringConstraints(pattern=FAULT_CODE_PATTERN),
    Field(description="Fault code from docs/fault-codes.md, e.g. PRN_PAPER_OUT."),
]
MessageId = Annotated[
    str,
    StringConstraints(pattern=MESSAGE_ID_PATTERN),
    Field(description="Unique message id (a UUID4 in hex or with dashes is typical)."),
]
ShortText = Annotated[str, StringConstraints(max_length=500)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=120)]
Seconds = Annotated[float, Field(ge=0, le=7 * 86400)]
Count = Annotated[int, Field(ge=0, le=100_000)]


def _require_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must carry a UTC offset, e.g. 2026-11-23T09:30:00Z")
    return value.astimezone(UTC)


UtcDateTime = Annotated[
    datetime,
    AfterValidator(_require_utc),
    Field(description="ISO 8601 timestamp with offset; stored and re-sent as UTC."),
]
