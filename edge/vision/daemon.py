"""The vision daemon: frames -> detections -> tracks -> zones -> MQTT, for one camera.

Each stage is injected (a detector, a tracker, a frame source), so tests can swap the model
for a slow fake and the benchmark can time every stage. The loop always takes the newest
frame; what it had no time for is counted as dropped and reported in the camera status.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from edge.vision.debug_view import DebugView
from edge.vision.detector import Detections, Frame, build_detector
from edge.vision.pipeline import TrackedBox, ZonePipeline
from edge.vision.publisher import VisionPublisher
from edge.vision.source import FrameSource
from lobbywatch.clock import Clock, SystemClock
from lobbywatch.config.site import BrokerConfig, CameraConfig, SiteConfig
from lobbywatch.protocol.sequence import Stamper

log = logging.getLogger(__name__)


class Detector(Protocol):
    passes: int  # detector passes since start, both models (read by the metrics)
    near_passes: int  # of which the near model's

    def detect(self, frame: Frame) -> Detections: ...


class Tracker(Protocol):
    def update(self, det: Detections, frame_shape: tuple[int, int]) -> list[TrackedBox]: ...

    def reset(self) -> None: ...


@dataclass
class StageTimes:
    """Accumulated wall time per pipeline stage, in seconds."""

    totals: dict[str, float] = field(default_factory=dict)
    frames: int = 0

    def add(self, stage: str, seconds: float) -> None:
        self.totals[stage] = self.totals.get(stage, 0.0) + seconds

    def ms_per_frame(self) -> dict[str, float]:
        n = max(self.frames, 1)
        return {k: round(v * 1000 / n, 2) for k, v in self.totals.items()}


def build_tracker(camera: CameraConfig) -> Tracker:
    from edge.vision.tracker import ByteTracker

    fps_guess = camera.max_fps or 10.0
    return ByteTracker(
        high_thresh=max(camera.counting.confidence, 0.2),
        low_thresh=min(0.1, camera.counting.confidence),
        new_track_thresh=max(camera.counting.confidence, 0.2),
        track_buffer=max(5, int(fps_guess * 2)),
    )


class VisionDaemon:
    """Runs one camera until stopped (or until a non-looping video file ends)."""

    def __init__(
        self,
        site: SiteConfig,
        camera_id: str,
        *,
        broker: BrokerConfig | None = None,
        clock: Clock | None = None,
        detector: Detector | None = None,
        tracker: Tracker | None = None,
        source: FrameSource | None = None,
        debug_port: int | None = None,
        status_interval_s: float = 10.0,
        keepalive_s: float = 10.0,
        password: str | None = None,
    ) -> None:
        self.site = site
        self.camera = site.camera(camera_id)
        self.clock: Clock = clock or SystemClock()
        self.broker = broker or site.broker
        self.detector = detector or build_detector(self.camera)
        self.tracker = tracker or build_tracker(self.camera)
        self._stream_events: list[bool] = []
        self.source = source or FrameSource(
            self.camera.source, loop=self.camera.loop, on_stream=self._stream_events.append
        )
        self.stamper = Stamper(site.site, self.camera.id, clock=self.clock)
        self.pipeline = ZonePipeline(
            site, self.camera, self.stamper, frame_size=(1920, 1080), keepalive_s=keepalive_s
        )
        self.publisher = VisionPublisher(self.broker, self.stamper, password=password)
        self.debug = DebugView(debug_port) if debug_port is not None else None
        self.status_interval_s = status_interval_s
        self.times = StageTimes()
        self.stop_event = threading.Event()
        self.errors = 0
        self.fps: float | None = None  # frames processed per second, last 5-s window
        self.last_tracks = 0
        self.on_frame: Callable[[list[TrackedBox]], None] | None = None

    def stop(self) -> None:
        self.stop_event.set()

    def _status(self, fps: float | None) -> None:
        c = self.source.counters()
        self.publisher.status(
            stream_ok=c.stream_ok,
            fps=None if fps is None else round(min(fps, 1000.0), 2),
            frames_read=c.read,
            frames_processed=c.processed,
            frames_dropped=c.dropped,
        )

    def _handle_stream_events(self) -> None:
        while self._stream_events:
            ok = self._stream_events.pop(0)
            if not ok:
                log.warning("camera %s: stream lost; zeroing zone states", self.camera.id)
                self.publisher.send(self.pipeline.stream_lost(self.clock.now()))
                self.tracker.reset()
            self._status(None)

    def process(self, frame: Frame) -> list[TrackedBox]:
        """One frame through every stage (timed)."""
        t0 = time.perf_counter()
        det = self.detector.detect(frame)
        t1 = time.perf_counter()
        h, w = frame.shape[:2]
        tracks = self.tracker.update(det, (h, w))
        t2 = time.perf_counter()
        self.pipeline.frame_size = (w, h)
        messages = self.pipeline.update(tracks, self.clock.now())
        t3 = time.perf_counter()
        self.publisher.send(messages)
        t4 = time.perf_counter()
        self.times.frames += 1
        self.times.add("detect", t1 - t0)
        self.times.add("track", t2 - t1)
        self.times.add("zones", t3 - t2)
        self.times.add("publish", t4 - t3)
        return tracks

    def run(self, max_frames: int | None = None) -> StageTimes:
        """Connect, publish zeroed state, process frames until stopped; clean shutdown."""
        self.publisher.start(self.pipeline.start(self.clock.now()))
        last_status = time.monotonic()
        window_start, window_frames = time.monotonic(), 0
        fps: float | None = None
        min_period = 1.0 / self.camera.max_fps if self.camera.max_fps else 0.0
        try:
            if self.debug is not None:
                self.debug.start()
            self.source.start()
            while not self.stop_event.is_set():
                self._handle_stream_events()
                now_m = time.monotonic()
                if now_m - last_status >= self.status_interval_s:
                    self._status(fps)
                    last_status = now_m
                item = self.source.get(timeout=0.5)
                if item is None:
                    if self.source.finished.is_set():
                        log.info("camera %s: source ended", self.camera.id)
                        break
                    continue
                started = time.monotonic()
                try:
                    tracks = self.process(item.frame)
                except Exception:  # a bad frame or model hiccup must not kill the daemon
                    self.errors += 1
                    log.exception("camera %s: frame %d failed", self.camera.id, item.index)
                    continue
                if self.debug is not None:
                    self.debug.show(item.frame, tracks, self.pipeline)
                if self.on_frame is not None:
                    self.on_frame(tracks)
                window_frames += 1
                self.last_tracks = len(tracks)
                if time.monotonic() - window_start >= 5.0:
                    fps = self.fps = window_frames / (time.monotonic() - window_start)
                    window_start, window_frames = time.monotonic(), 0
                if max_frames is not None and self.times.frames >= max_frames:
                    break
                if min_period:
                    self.stop_event.wait(max(0.0, min_period - (time.monotonic() - started)))
        finally:
            self.source.stop()
            self.publisher.send(self.pipeline.stream_lost(self.clock.now()))
            self._status(fps)
            self.publisher.stop()
            if self.debug is not None:
                self.debug.stop()
        return self.times
