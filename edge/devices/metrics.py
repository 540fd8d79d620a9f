"""The device agent's Prometheus metrics, served by its local API at ``GET /metrics``.

Nothing is counted here: :class:`AgentCollector` reads the agent's own snapshot (outbox,
connection, counters, faults) at every scrape. The list is in docs/device-agent.md ("Metrics").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from prometheus_client import Metric

    from edge.devices.agent import DeviceAgent

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: (name, help) of the agent counters exposed as Prometheus counters, by counter field.
COUNTERS = {
    "published": ("lobbywatch_device_published", "Messages handed to the broker."),
    "acked": ("lobbywatch_device_acked", "Messages the broker acknowledged."),
    "connects": ("lobbywatch_device_connects", "Connections the broker accepted (reconnects included)."),
    "receipts": ("lobbywatch_device_receipts", "Delivery receipts taken from the gateway."),
    "covered": ("lobbywatch_device_covered", "Messages a receipt covered (deleted from the outbox)."),
    "resend_requests": ("lobbywatch_device_resend_requests", "Resend requests of the gateway's receipts."),
    "bad_downlinks": ("lobbywatch_device_bad_downlinks", "Downlink messages that were not valid."),
    "commands": ("lobbywatch_device_commands", "Device commands carried out."),
}


class AgentCollector(Collector):
    """One agent's numbers, read from :meth:`DeviceAgent.snapshot` at scrape time."""

    def __init__(self, agent: DeviceAgent) -> None:
        self._agent = agent

    def collect(self) -> Iterable[Metric]:
        snap: dict[str, Any] = self._agent.snapshot()
        labels = ["site", "device"]
        ids = [str(snap["site"]), str(snap["device"])]
        outbox = GaugeMetricFamily(
            "lobbywatch_device_outbox_messages",
            "Messages in the outbox: not yet acknowledged by the broker, or kept until a receipt.",
            labels=[*labels, "state"],
        )
        outbox.add_metric([*ids, "unacked"], float(snap["backlog"]))
        outbox.add_metric([*ids, "awaiting_receipt"], float(snap["awaiting_receipt"]))
        yield outbox
        for name, help_text, value in (
            ("lobbywatch_device_connected", "1 while connected to the hall broker.", snap["connected"]),
            (
                "lobbywatch_device_out_of_service",
                "1 while the out-of-service notice is on.",
                snap["out_of_service"],
            ),
            ("lobbywatch_device_faults_active", "Faults active now.", len(snap["faults"])),
        ):
            gauge = GaugeMetricFamily(name, help_text, labels=labels)
            gauge.add_metric(ids, float(value))
            yield gauge
        counters: dict[str, int] = snap["counters"]
        for field, (name, help_text) in COUNTERS.items():
            counter = CounterMetricFamily(name, help_text, labels=labels)
            counter.add_metric(ids, float(counters.get(field, 0)))
            yield counter


def render(agent: DeviceAgent) -> bytes:
    """The Prometheus text of ``agent`` now."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AgentCollector(agent))
    return generate_latest(registry)
