"""The vision daemon's Prometheus metrics (``--metrics-port``, on 127.0.0.1).

Nothing is counted here: :class:`DaemonCollector` reads the frame source's counters, the
daemon's stage times, fps and errors, and the publisher's at every scrape. The list is in
docs/vision.md ("Metrics").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from prometheus_client import Metric

    from edge.vision.daemon import VisionDaemon


class DaemonCollector(Collector):
    """One camera daemon's numbers, read at scrape time."""

    def __init__(self, daemon: VisionDaemon) -> None:
        self._daemon = daemon

    def collect(self) -> Iterable[Metric]:
        d = self._daemon
        ids = [d.site.site, d.camera.id]
        labels = ["site", "camera"]
        c = d.source.counters()
        frames = CounterMetricFamily(
            "lobbywatch_vision_frames",
            "Frames read from the camera, processed, or dropped (no time).",
            labels=[*labels, "outcome"],
        )
        for outcome, n in (("read", c.read), ("processed", c.processed), ("dropped", c.dropped)):
            frames.add_metric([*ids, outcome], float(n))
        yield frames
        stage = CounterMetricFamily(
            "lobbywatch_vision_stage_seconds",
            "Seconds spent per pipeline stage (detect, track, zones, publish); rate ÷ frames = per frame.",
            labels=[*labels, "stage"],
        )
        for name, seconds in sorted(d.times.totals.items()):
            stage.add_metric([*ids, name], seconds)
        yield stage
        passes = CounterMetricFamily(
            "lobbywatch_vision_detector_passes",
            "Detector passes (full frame, slices) of the camera's model and of the near model; "
            "rate ÷ processed frames = passes per frame.",
            labels=[*labels, "model"],
        )
        passes.add_metric([*ids, "camera"], float(d.detector.passes - d.detector.near_passes))
        passes.add_metric([*ids, "near"], float(d.detector.near_passes))
        yield passes
        for name, help_text, value in (
            ("lobbywatch_vision_stream_reconnects", "Times the stream was opened again.", c.reconnects),
            ("lobbywatch_vision_frame_errors", "Frames whose processing failed.", d.errors),
            ("lobbywatch_vision_published", "Messages handed to the broker.", d.publisher.published),
        ):
            counter = CounterMetricFamily(name, help_text, labels=labels)
            counter.add_metric(ids, float(value))
            yield counter
        for name, help_text, level in (
            ("lobbywatch_vision_stream_up", "1 while the camera stream delivers frames.", float(c.stream_ok)),
            ("lobbywatch_vision_fps", "Frames processed per second (last 5-s window).", d.fps or 0.0),
            ("lobbywatch_vision_tracks", "People tracked in the latest frame.", float(d.last_tracks)),
        ):
            gauge = GaugeMetricFamily(name, help_text, labels=labels)
            gauge.add_metric(ids, level)
            yield gauge


def registry_for(daemon: VisionDaemon) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DaemonCollector(daemon))
    return registry


def render(daemon: VisionDaemon) -> bytes:
    """The Prometheus text of ``daemon`` now."""
    return generate_latest(registry_for(daemon))
