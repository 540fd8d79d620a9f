"""The server's Prometheus metrics: one registry per app, served at ``GET /metrics``.

:class:`ServerMetrics` owns the registry and the two numbers nobody else counts: request
durations (per route template, method and status class) and open SSE streams, both kept by
:class:`MetricsMiddleware`. Every other number keeps its owner (ingest counters, the hall
state's gateway records, InfluxDB writer, alert service and engine, dispatcher):
:class:`_ContextCollector` only reads them at scrape time (a hall's data delay is added up
from its gateway records there). The list of metrics is in docs/server.md ("Metrics").
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from prometheus_client import Metric

    from server.context import ServerContext

#: Upper bounds (seconds) of the request duration buckets (ingest answers in milliseconds).
REQUEST_BUCKETS_S = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED = "unmatched"  # the route label of requests no route took (404s): bounded


class ServerMetrics:
    """The registry of one app and the numbers :class:`MetricsMiddleware` keeps."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Histogram(
            "lobbywatch_server_http_request_duration_seconds",
            "Seconds from a request's arrival to its answer's end (SSE streams excluded).",
            ["route", "method", "status"],
            registry=self.registry,
            buckets=REQUEST_BUCKETS_S,
        )
        self.sse_clients = Gauge(
            "lobbywatch_server_sse_clients",
            "Server-sent event streams open now, per route.",
            ["route"],
            registry=self.registry,
        )

    def watch(self, ctx: ServerContext) -> None:
        """Read ``ctx``'s services at every scrape."""
        self.registry.register(_ContextCollector(ctx))


def _route_of(scope: Scope) -> str:
    """The route template that took the request (``/api/v1/sites/{site}/live``), never its path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class MetricsMiddleware:
    """Times every HTTP request and counts open SSE streams (pure ASGI: no body buffering)."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception before the answer started is answered 500 by the server
        stream: str | None = None

        async def send_wrapper(message: Message) -> None:
            nonlocal status, stream
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = dict(message.get("headers", ()))
                if headers.get(b"content-type", b"").startswith(b"text/event-stream"):
                    stream = _route_of(scope)
                    self.metrics.sse_clients.labels(stream).inc()
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            if stream is not None:
                self.metrics.sse_clients.labels(stream).dec()
            else:
                self.metrics.requests.labels(
                    _route_of(scope), scope.get("method", ""), f"{status // 100}xx"
                ).observe(time.perf_counter() - started)


class _ContextCollector(Collector):
    """Reads the counters of a :class:`ServerContext`'s services at scrape time (never counts)."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx

    def collect(self) -> Iterable[Metric]:
        yield from self._ingest()
        yield from self._halls()
        yield from self._influx()
        yield from self._alerts()

    def _ingest(self) -> Iterable[Metric]:
        c = self.ctx.pipeline.counters
        yield CounterMetricFamily(
            "lobbywatch_server_ingest_batches", "Ingest batches the pipeline processed.", value=c.batches
        )
        messages = CounterMetricFamily(
            "lobbywatch_server_ingest_messages",
            "Messages of processed ingest batches, per outcome.",
            labels=["outcome"],
        )
        for outcome, n in (("accepted", c.accepted), ("duplicate", c.duplicates), ("rejected", c.rejected)):
            messages.add_metric([outcome], n)
        yield messages
        yield CounterMetricFamily(
            "lobbywatch_server_ingest_memory_conflicts",
            "Batches whose in-memory duplicate check SQL contradicted.",
            value=c.memory_conflicts,
        )

    def _halls(self) -> Iterable[Metric]:
        """Per gateway of each hall: how far behind its data is (the hall state's ``data_delays``)."""
        now = self.ctx.clock.now()
        delay = GaugeMetricFamily(
            "lobbywatch_server_hall_data_delay_seconds",
            "Seconds since the gateway's last batch, plus the age of the oldest message it said was waiting.",
            labels=["site", "gateway"],
        )
        for hall in self.ctx.hall.halls():
            for gateway, delay_s in self.ctx.hall.data_delays(hall.site, now).items():
                delay.add_metric([hall.site, gateway], delay_s)
        yield delay

    def _influx(self) -> Iterable[Metric]:
        writer = self.ctx.writer
        s = writer.stats
        yield GaugeMetricFamily(
            "lobbywatch_server_influx_spool_lines",
            "Entries in the InfluxDB spool now (lines, and the rare deletions of superseded points).",
            value=s.pending_lines,
        )
        lines = CounterMetricFamily(
            "lobbywatch_server_influx_lines",
            "Spooled lines InfluxDB stored (written) or refused for good (dropped).",
            labels=["result"],
        )
        lines.add_metric(["written"], s.written_lines)
        lines.add_metric(["dropped"], s.dropped_lines)
        yield lines
        yield CounterMetricFamily(
            "lobbywatch_server_influx_write_requests",
            "Posts to InfluxDB /write, whatever their answer.",
            value=s.write_requests,
        )
        yield CounterMetricFamily(
            "lobbywatch_server_influx_write_failures",
            "Spool drains that failed and will be retried (unreachable, 5xx, ...).",
            value=s.failures,
        )
        yield from writer.write_seconds.collect()

    def _alerts(self) -> Iterable[Metric]:
        service = self.ctx.alerts
        if service is None:  # not started, stopped, or built without alerts
            return
        st = service.engine.stats
        yield CounterMetricFamily(
            "lobbywatch_server_alert_messages",
            "Messages fed to the alert engine (its evaluations).",
            value=st.messages,
        )
        for name, help_text, value in (
            ("unknown_site", "Messages the alert engine ignored: their hall is unknown.", st.unknown_site),
            ("errors", "Alert rule evaluations that raised.", st.errors),
            ("fired", "Alerts raised.", st.fired),
            ("suppressed", "Alert updates held back from their channels (muted, silenced).", st.suppressed),
            ("duplicates", "Alerts another engine had open already: taken, not sent.", st.duplicates),
        ):
            yield CounterMetricFamily(f"lobbywatch_server_alert_{name}", help_text, value=value)
        open_alerts = GaugeMetricFamily(
            "lobbywatch_server_alerts_open", "Open alerts now, per kind and hall.", labels=["kind", "site"]
        )
        for (kind, site), n in sorted(Tally((a.kind, a.site) for a in service.engine.open_alerts()).items()):
            open_alerts.add_metric([kind, site], n)
        yield open_alerts
        yield from service.evaluation_seconds.collect()
        yield from service.dispatcher.attempt_count.collect()
        yield from service.dispatcher.attempt_latency.collect()
