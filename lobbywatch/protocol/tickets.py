"""Queue tickets (取号/叫号): what a hall's ticket system tells LobbyWatch, and the wait told back.

One :class:`TicketEvent` per step of a ticket's life: issued, called (and recalled) to a
counter, service started, finished, no-show, transferred. A ticket system publishes them on
its own MQTT topic or POSTs them to the gateway (``docs/protocol.md``, "Queue tickets").
:class:`WaitBoard` goes down to the hall's displays: the wait per business type.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, StringConstraints, model_validator

from lobbywatch.protocol.enums import TicketEventKind
from lobbywatch.protocol.envelope import Direction, Envelope, Strict
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


class BusinessWaitEntry(Strict):
    """The wait for one business type."""

    business: Identifier = Field(description="Business type id.")
    name_en: str = Field(min_length=1, max_length=120, description="Its name in English.")
    name_zh_cn: str = Field(
        alias="name_zh-CN", min_length=1, max_length=120, description="Its name in Chinese."
    )
    ahead: int = Field(ge=0, le=100_000, description="Tickets waiting (not yet called).")
    expected_wait_s: float = Field(ge=0, le=7 * 86400, description="Expected wait for a ticket taken now, s.")


class WaitBoard(Envelope):
    """Tell the wait: tickets ahead and expected wait per business type, for in-hall displays.
    Sent by the server when it changes; retained, so a display that connects sees it at once."""

    type: Literal["wait_board"] = "wait_board"
    waits: list[BusinessWaitEntry] = Field(max_length=64, description="One entry per business type.")

    DIRECTION: ClassVar[Direction] = "down"
    RETAINED: ClassVar[bool] = True
