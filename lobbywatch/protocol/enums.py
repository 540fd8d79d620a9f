"""Closed vocabularies of the lobby: zone kinds, counter states, device kinds and states.

These are shared by the protocol (what travels) and the site configuration (what is
installed), so there is exactly one spelling of each.
"""

from __future__ import annotations

from enum import StrEnum


class ZoneKind(StrEnum):
    """What happens in a zone (DOMAIN.md, "Places")."""

    ENTRANCE = "entrance"
    CONSULTATION = "consultation"
    QUEUE = "queue"
    WAITING = "waiting"
    COUNTER = "counter"
    SELF_SERVICE = "self_service"
    EXPERIENCE = "experience"
    TOP_UP = "top_up"


class CounterStatus(StrEnum):
    """The four states of a staffed counter: serving (受理), standby (待命), learning (学习), away (离席)."""

    SERVING = "serving"
    STANDBY = "standby"
    LEARNING = "learning"
    AWAY = "away"


class DeviceKind(StrEnum):
    """Kinds of self-service and counter terminals."""

    TOP_UP_KIOSK = "top_up_kiosk"
    BILL_PAYMENT_KIOSK = "bill_payment_kiosk"
    SIM_DISPENSER = "sim_dispenser"
    CARD_DISPENSER = "card_dispenser"
    RECEIPT_PRINTER = "receipt_printer"
    TICKET_DISPENSER = "ticket_dispenser"
    MULTI_SERVICE_KIOSK = "multi_service_kiosk"
    ATM = "atm"
    COUNTER_TERMINAL = "counter_terminal"
    DISPLAY = "display"

    @property
    def is_self_service(self) -> bool:
        """True for kiosks that count towards the hall's self-service capacity."""
        return self not in (DeviceKind.COUNTER_TERMINAL, DeviceKind.DISPLAY)


class Presence(StrEnum):
    """Whether a source is connected, as told by its retained status (or its last-will)."""

    ONLINE = "online"
    OFFLINE = "offline"


class DeviceEventKind(StrEnum):
    FAULT_RAISED = "fault_raised"
    FAULT_CLEARED = "fault_cleared"
    OUT_OF_SERVICE_ON = "out_of_service_on"
    OUT_OF_SERVICE_OFF = "out_of_service_off"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class WaitKind(StrEnum):
    """A completed dwell: a wait (queue, waiting area) or a service (at a counter)."""

    WAIT = "wait"
    SERVICE = "service"


class WaitOutcome(StrEnum):
    """How a dwell ended: the person left the zone, or their track was lost and timed out."""

    EXITED = "exited"
    LOST = "lost"


class VisitOutcome(StrEnum):
    """How a visit ended: served at a counter, walked out after waiting, passed through
    (never waited nor was served: kiosks, questions), or cut short by a lost picture."""

    SERVED = "served"
    WALKED_OUT = "walked_out"
    PASSED = "passed"
    LOST = "lost"


class AlertState(StrEnum):
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class DeviceCommandKind(StrEnum):
    """Commands the hall may send down to one device."""

    OUT_OF_SERVICE_ON = "out_of_service_on"
    OUT_OF_SERVICE_OFF = "out_of_service_off"
    PING = "ping"


class TicketEventKind(StrEnum):
    """What happened to a queue ticket (取号/叫号): issued at the printer or app, called to a
    counter (again: recalled), served, finished, not answered (no-show) or sent on elsewhere."""

    ISSUED = "issued"
    CALLED = "called"
    RECALLED = "recalled"
    SERVICE_STARTED = "service_started"
    FINISHED = "finished"
    NO_SHOW = "no_show"
    TRANSFERRED = "transferred"
