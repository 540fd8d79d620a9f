"""The gateway's local health endpoints: ``/metrics`` (Prometheus text) and ``/healthz`` (JSON).

Both read :meth:`gateway.service.Gateway.snapshot` (the counters of :mod:`gateway.stats` and
the outbox's backlog) at each request; :class:`SnapshotCollector` turns it into Prometheus
families, rendered by ``prometheus_client``. The list of metrics is in docs/gateway.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Metric, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from gateway.local_http import LocalHttpServer

#: (name, type, help, where in the snapshot) of each metric, in the order written; a
#: counter's name is given without ``_total`` (the client library adds it).
METRICS: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("backlog_messages", "gauge", "Messages waiting in the outbox.", ("backlog", "count")),
    ("backlog_bytes", "gauge", "Bytes of the messages waiting in the outbox.", ("backlog", "bytes")),
    (
        "backlog_oldest_age_seconds",
        "gauge",
        "Age of the oldest message waiting.",
        ("backlog", "oldest_age_s"),
    ),
    (
        "forwarded_per_second",
        "gauge",
        "Messages the server took per second (10 s window).",
        ("forwarded_per_s",),
    ),
    ("forwarded", "counter", "Messages the server accepted or already had.", ("forwarded",)),
    ("received", "counter", "MQTT messages received.", ("received",)),
    ("batches", "counter", "Requests the server answered (a split batch counts each piece).", ("batches",)),
    ("retries", "counter", "Batches sent again after a failure.", ("retries",)),
    ("quarantined", "counter", "Invalid messages quarantined (outbox lifetime).", ("backlog", "quarantined")),
    (
        "quarantined_reason",
        "counter",
        "Invalid messages quarantined, per reason (outbox lifetime; server_rejected: by the server).",
        ("quarantined_by_reason",),
    ),
    ("shed", "counter", "Samples shed because the outbox was full (outbox lifetime).", ("backlog", "shed")),
    ("mqtt_connected", "gauge", "1 while connected to the hall broker.", ("mqtt_connected",)),
]


class SnapshotCollector(Collector):
    """The families of :data:`METRICS`, read from ``snapshot()`` at each scrape; every series
    carries the labels ``site`` and ``gateway``."""

    def __init__(self, snapshot: Callable[[], dict[str, Any]]) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        snap = self.snapshot()
        labels = [str(snap["site"]), str(snap["gateway"])]
        for name, kind, help_text, where in METRICS:
            value: Any = snap
            for key in where:
                value = value[key]
            full = f"lobbywatch_gateway_{name}"
            cls = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            if isinstance(value, dict):  # one series per reason
                family = cls(full, help_text, labels=["site", "gateway", "reason"])
                for reason, n in sorted(value.items()):
                    family.add_metric([*labels, reason], float(n))
            else:
                family = cls(full, help_text, labels=["site", "gateway"])
                family.add_metric(labels, float(value))
            yield family


def render_metrics(snapshot: dict[str, Any]) -> str:
    """Prometheus text exposition of a :meth:`Gateway.snapshot`."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(lambda: snapshot))
    return generate_latest(registry).decode()


class HealthServer(LocalHttpServer):
    """Serves the endpoints on ``host:port`` from a daemon thread."""

    def __init__(self, host: str, port: int, snapshot: Callable[[], dict[str, Any]]) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    body = render_metrics(outer.snapshot()).encode()
                    ctype = CONTENT_TYPE_LATEST
                elif self.path == "/healthz":
                    body = json.dumps(outer.snapshot()).encode()
                    ctype = "application/json"
                else:
                    self.send_error(404, "try /metrics or /healthz")
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.snapshot = snapshot
        super().__init__(host, port, Handler, "gw-health")
