"""The envelope every protocol v1 message carries (``v``, ``type``, ``id``, ``site``,
``source``, ``epoch``, ``seq``, ``ts``) and the class attributes saying how a message travels.

The message models (:mod:`lobbywatch.protocol.messages`, :mod:`lobbywatch.protocol.tickets`)
build on it; ``docs/protocol.md`` is the specification.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from lobbywatch.protocol.fields import MAX_SEQ, Identifier, MessageId, UtcDateTime

PROTOCOL_VERSION: Literal[1] = 1

Delivery = Literal["event", "sample"]
Direction = Literal["up", "down"]


class Strict(BaseModel):
    """A protocol object: unknown fields are rejected, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Envelope(Strict):
    """Fields every message carries, whatever its type."""

    v: Literal[1] = Field(description="Protocol version. This build speaks 1.")
    type: str = Field(description="Message type; selects the model for the remaining fields.")
    id: MessageId = Field(description="Unique id of this message; receivers deduplicate on it.")
    site: Identifier = Field(description="The hall (site) the source belongs to.")
    source: Identifier = Field(
        description="The camera, device, ticket system or server instance that produced the message."
    )
    epoch: int = Field(
        ge=0,
        le=MAX_SEQ,
        description=(
            "Sequence epoch: changes only when the source's sequence restarts (for example "
            "a device whose local store was wiped). Sequence continuity is checked per "
            "(site, source, epoch)."
        ),
    )
    seq: int = Field(
        ge=0,
        le=MAX_SEQ,
        description=(
            "Per-source sequence number, one more than the source's previous message, so "
            "loss and duplication are visible downstream. Last-will messages repeat the seq "
            "of the connection's birth message and are exempt from continuity checks."
        ),
    )
    ts: UtcDateTime = Field(description="When the source produced the message (UTC).")

    DELIVERY: ClassVar[Delivery] = "event"
    RETAINED: ClassVar[bool] = False
    DIRECTION: ClassVar[Direction] = "up"

    @property
    def is_will(self) -> bool:
        """True for a last-will message (published by the broker for a dead source)."""
        return False
