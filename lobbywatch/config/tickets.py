"""The gateway's queue-ticket endpoint (hall file ``gateway.tickets``): where a ticket system
POSTs its ticket events and with which token, and the id it publishes under on MQTT.

``docs/protocol.md`` ("Queue tickets") is the vendor's guide; ``gateway/tickets_http.py``
serves it.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lobbywatch.protocol.fields import Identifier


class TicketIntakeConfig(BaseModel):
    """The ticket system's ways in: ``POST /api/v1/tickets`` on ``port`` and its MQTT account."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    system: Identifier = Field(
        default="qms", description="The ticket system's id: its messages' source and its MQTT topic level."
    )
    port: int = Field(default=0, ge=0, le=65535, description="HTTP port of the ticket endpoint; 0 = off.")
    host: str = Field(default="0.0.0.0", min_length=1, description="Address the ticket endpoint binds to.")
    token_file: Path | None = Field(
        default=None, description="File holding the bearer token the ticket system sends."
    )

    @model_validator(mode="after")
    def _token_when_on(self) -> TicketIntakeConfig:
        if self.port and self.token_file is None:
            raise ValueError("the ticket endpoint needs token_file when port is set")
        return self
