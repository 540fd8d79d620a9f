"""The floor rules, by concern: functions from what a hall reports to signals.

* ``spec``: the rule table :data:`RULES`, :class:`Signal` and shared helpers;
* ``zones``: crowding, waits, care tasks per customer, no-upsell, overtime, loitering, surge, forecast peak;
* ``devices``: device offline, device fault, kiosk capacity;
* ``sensing``: camera blind, gateway silent, a source's clock wrong;
* ``tickets``: transaction overtime per business type, from the queue tickets;
* ``vendor_sla``: a vendor's response or repair target about to be missed, or missed.

A rule never fires an alert itself: the lifecycle (``server.alerts.lifecycle``) applies
hold times, clear holds and flap suppression, muting (``server.alerts.muting``) holds
signals and alerts back (docs/alerts.md).
"""

from server.alerts.rules.devices import capacity_signals, device_signals, fault_signal, offline_signal
from server.alerts.rules.sensing import Sensing, camera_signal, clock_signals, gateway_signal
from server.alerts.rules.spec import RULES, ForecastProvider, RuleSpec, Signal, hall_open
from server.alerts.rules.tickets import give_way_to_tickets, ticket_signals
from server.alerts.rules.vendor_sla import FaultProvider, OpenFault, sla_signals
from server.alerts.rules.zones import (
    ArrivalWindow,
    CareTasks,
    forecast_signal,
    hall_crowding,
    staffing,
    surge_signal,
    zone_signals,
)

__all__ = [
    "RULES",
    "ArrivalWindow",
    "CareTasks",
    "FaultProvider",
    "ForecastProvider",
    "OpenFault",
    "RuleSpec",
    "Sensing",
    "Signal",
    "camera_signal",
    "capacity_signals",
    "clock_signals",
    "device_signals",
    "fault_signal",
    "forecast_signal",
    "gateway_signal",
    "give_way_to_tickets",
    "hall_crowding",
    "hall_open",
    "offline_signal",
    "sla_signals",
    "staffing",
    "surge_signal",
    "ticket_signals",
    "zone_signals",
]
