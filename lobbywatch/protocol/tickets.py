"""Queue-ticket events (取号/叫号): what a hall's ticket system tells LobbyWatch.

One :class:`TicketEvent` per step of a ticket's life: issued, called (and recalled) to a
counter, service started, finished, no-show, transferred. A ticket system publishes them on
its own MQTT topic or POSTs them to the gateway (``docs/protocol.md``, "Queue tickets").
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from lobbywatch.protocol.enums import TicketEventKind
from lobbywatch.protocol.envelope import Envelope
from lobbywatch.protocol.fields import Identifier, UtcDateTime

TICKET_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"

TicketNumber = Annotated[
    str,
    StringConstraints(pattern=TICKET_PATTERN),
    Field(description="Ticket number as printed, e.g. A023 (letters, digits, '-', '_'; 1-32)."),
]

#: Events that happen at a counter, so they name it.
AT_COUNTER = frozenset(
    {
        TicketEventKind.CALLED,
        TicketEventKind.RECALLED,
        TicketEventKind.SERVICE_STARTED,
        TicketEventKind.FINISHED,
    }
)


class TicketEvent(Envelope):
    """One step of a queue ticket's life, from the hall's ticket system (``source``)."""

    type: Literal["ticket_event"] = "ticket_event"
    event: TicketEventKind = Field(description="What happened to the ticket.")
    ticket: TicketNumber
    business: Identifier = Field(
        description=(
            "Business type of the ticket (new_subscription, sim_replacement, ... as in the "
            "hall file's business limits; any other id counts as 'other business')."
        )
    )
    issued_at: UtcDateTime = Field(description="When the ticket was issued (the start of its wait).")
    counter: Identifier | None = Field(
        default=None,
        description="Counter concerned: required for called, recalled, service_started and finished.",
    )
    to_counter: Identifier | None = Field(
        default=None, description="transferred: the counter the ticket goes to, if one."
    )
    to_business: Identifier | None = Field(
        default=None, description="transferred: the business type it becomes, if it changes."
    )

    @model_validator(mode="after")
    def _event_fields(self) -> TicketEvent:
        if self.event in AT_COUNTER and self.counter is None:
            raise ValueError(f"counter is required for {self.event.value} events")
        transfer = self.to_counter is not None or self.to_business is not None
        if self.event == TicketEventKind.TRANSFERRED and not transfer:
            raise ValueError("transferred events name to_counter or to_business")
        if self.event != TicketEventKind.TRANSFERRED and transfer:
            raise ValueError("to_counter and to_business are only sent with transferred events")
        if self.issued_at > self.ts:
            raise ValueError("issued_at is after ts")
        return self
