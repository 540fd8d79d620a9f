"""The gateway's local health endpoints: ``/metrics`` (Prometheus text) and ``/healthz`` (JSON)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: (name, type, help) of each metric, in the order written.
METRICS: list[tuple[str, str, str]] = [
    ("backlog_messages", "gauge", "Messages waiting in the outbox."),
    ("backlog_bytes", "gauge", "Bytes of the messages waiting in the outbox."),
    ("backlog_oldest_age_seconds", "gauge", "Age of the oldest message waiting."),
    ("forwarded_per_second", "gauge", "Messages the server took per second (10 s window)."),
    ("forwarded_total", "counter", "Messages the server accepted or already had."),
    ("received_total", "counter", "MQTT messages received."),
    ("retries_total", "counter", "Batches sent again after a failure."),
    ("quarantined_total", "counter", "Invalid messages quarantined (outbox lifetime)."),
    (
        "quarantined_reason_total",
        "counter",
        "Invalid messages quarantined, per reason (outbox lifetime; server_rejected: by the server).",
    ),
    ("shed_total", "counter", "Samples shed because the outbox was full (outbox lifetime)."),
    ("mqtt_connected", "gauge", "1 while connected to the hall broker."),
]


def render_metrics(snapshot: dict[str, Any]) -> str:
    """Prometheus text exposition of a :meth:`Gateway.snapshot`."""
    values: dict[str, Any] = {
        "backlog_messages": snapshot["backlog"]["count"],
        "backlog_bytes": snapshot["backlog"]["bytes"],
        "backlog_oldest_age_seconds": snapshot["backlog"]["oldest_age_s"],
        "forwarded_per_second": snapshot["forwarded_per_s"],
        "forwarded_total": snapshot["forwarded"],
        "received_total": snapshot["received"],
        "retries_total": snapshot["retries"],
        "quarantined_total": snapshot["backlog"]["quarantined"],
        "quarantined_reason_total": snapshot["quarantined_by_reason"],
        "shed_total": snapshot["backlog"]["shed"],
        "mqtt_connected": 1 if snapshot["mqtt_connected"] else 0,
    }
    labels = f'{{site="{snapshot["site"]}",gateway="{snapshot["gateway"]}"}}'
    lines: list[str] = []
    for name, kind, help_text in METRICS:
        full = f"lobbywatch_gateway_{name}"
        lines += [f"# HELP {full} {help_text}", f"# TYPE {full} {kind}"]
        value = values[name]
        if isinstance(value, dict):  # one series per label value
            lines += [f'{full}{labels[:-1]},reason="{k}"}} {v}' for k, v in value.items()]
        else:
            lines.append(f"{full}{labels} {value}")
    return "\n".join(lines) + "\n"


class HealthServer:
    """Serves the endpoints on ``host:port`` from a daemon thread."""

    def __init__(self, host: str, port: int, snapshot: Callable[[], dict[str, Any]]) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    body = render_metrics(outer.snapshot()).encode()
                    ctype = "text/plain; version=0.0.4; charset=utf-8"
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
        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, name="gw-health", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
