"""The contract between a hall gateway and the central server's ingest endpoint.

``POST /api/v1/ingest`` with ``Authorization: Bearer <gateway token>``, a JSON body of
:class:`IngestBatch` (optionally ``Content-Encoding: gzip``). The server answers 200 with an
:class:`IngestResult` holding one :class:`ItemResult` per message, in the same order:

* ``accepted`` — stored; the gateway deletes it from its outbox;
* ``duplicate`` — already stored earlier (same message id or same (source, epoch, seq));
  the gateway deletes it too;
* ``rejected`` — invalid, with a reason; the gateway moves it to quarantine, never resends.

Any non-200 answer means nothing in the batch was stored: resend it later, unchanged.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lobbywatch.protocol.fields import Identifier, UtcDateTime

INGEST_PATH = "/api/v1/ingest"
MAX_BATCH_MESSAGES = 5000
MAX_BATCH_BYTES = 8 * 1024 * 1024


class Backlog(BaseModel):
    """The gateway's outbox as it stood when the batch was sent."""

    model_config = ConfigDict(extra="forbid")

    count: int = Field(ge=0, description="Messages waiting in the outbox (this batch included).")
    bytes: int = Field(ge=0, description="Their size in bytes.")
    oldest_age_s: float = Field(ge=0, description="Age of the oldest waiting message, seconds.")
    shed: int = Field(default=0, ge=0, description="Samples shed since the gateway started.")
    quarantined: int = Field(default=0, ge=0, description="Invalid messages quarantined.")


class IngestBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gateway: Identifier = Field(description="Gateway id.")
    site: Identifier = Field(description="The hall the gateway serves; must match its token.")
    sent_at: UtcDateTime = Field(description="When the gateway sent the batch.")
    backlog: Backlog = Field(description="Outbox state, so the server can mark data delayed.")
    messages: list[dict[str, Any]] = Field(
        max_length=MAX_BATCH_MESSAGES,
        description="Protocol v1 messages as JSON objects, in outbox order.",
    )


class ItemResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["accepted", "duplicate", "rejected"]
    id: str | None = Field(default=None, description="The message id, when it could be read.")
    reason: str | None = Field(default=None, description="Why a message was rejected.")


class IngestResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    results: list[ItemResult]
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
