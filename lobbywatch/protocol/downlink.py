"""The contract of the downlink: server -> hall gateway over the gateway's own outbound HTTP(S).

The central server never connects into a hall. It queues what a hall must hear (alerts for
the in-hall displays, device commands) per hall, each item numbered by a per-hall sequence
that only grows; the gateway asks for it with a long poll and acknowledges what it has put
on the hall broker:

* ``GET /api/v1/gateways/{site}/downlink?after=SEQ&wait=S`` (gateway token of that site)
  answers a :class:`DownlinkBatch` with the items numbered above ``after``, oldest first, as
  soon as there is one, or an empty batch after ``wait`` seconds;
* ``POST /api/v1/gateways/{site}/downlink/ack`` with a :class:`DownlinkAck` tells the server
  that every item up to ``seq`` is on the broker: the server forgets them.

Each item is one protocol v1 message (``DIRECTION == "down"``) as a JSON object; its topic
and retain flag follow from its type (:func:`lobbywatch.protocol.topics.topic_for`).
Details: ``docs/gateway.md`` ("Downlink").
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lobbywatch.protocol.fields import Identifier

MAX_SEQ = 2**62
#: The longest long poll the server holds, seconds.
MAX_WAIT_S = 60
#: Items per answer, at most.
MAX_ITEMS = 500


def downlink_path(site: str) -> str:
    return f"/api/v1/gateways/{site}/downlink"


def downlink_ack_path(site: str) -> str:
    return f"{downlink_path(site)}/ack"


class DownlinkItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seq: int = Field(ge=1, le=MAX_SEQ, description="The hall's downlink sequence number.")
    message: dict[str, Any] = Field(description="A protocol v1 downlink message (alert, device_command).")


class DownlinkBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site: Identifier = Field(description="The hall.")
    head: int = Field(
        ge=0,
        le=MAX_SEQ,
        description=(
            "The highest sequence number the server has given out for this hall (0: none). "
            "Below the gateway's own position only when the server's database was replaced."
        ),
    )
    items: list[DownlinkItem] = Field(max_length=MAX_ITEMS, description="Items above ``after``, in order.")


class DownlinkAck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seq: int = Field(ge=0, le=MAX_SEQ, description="Every item up to this one is on the hall broker.")


class AckResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    acked: int = Field(ge=0, description="The hall's acknowledged position now.")
    removed: int = Field(ge=0, description="Items this acknowledgement removed from the queue.")
