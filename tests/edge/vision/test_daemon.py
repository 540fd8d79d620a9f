"""The daemon against a real Mosquitto, with a fake detector (the real model is in test_e2e).

Frame dropping under a slow model, zeroed retained state at start-up and on stream loss
(a restart never leaves stale counts), camera status with last-will, broker reconnects.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from edge.vision.daemon import VisionDaemon
from edge.vision.detector import Detections, Frame
from edge.vision.pipeline import TrackedBox
from edge.vision.source import FrameSource
from lobbywatch.clock import SystemClock
from lobbywatch.config.site import BrokerConfig
from lobbywatch.mqtt import connect_and_wait, make_client, publish
from lobbywatch.protocol.codec import decode
from lobbywatch.protocol.enums import Presence, ZoneKind
from lobbywatch.protocol.messages import CameraStatus, ZoneState
from lobbywatch.protocol.sequence import Stamper
from lobbywatch.protocol.topics import camera_status_topic, zone_state_topic
from lobbywatch.services import Mosquitto, wait_until

from .conftest import make_site
from .test_source import FakeCapture

# Boxes whose anchor lies in the queue zone (0..100 square) of the test camera.
QUEUE_BOXES = np.asarray([[10, 0, 30, 50], [40, 0, 60, 60], [70, 0, 90, 70]], np.float32)


class SlowDetector:
    """Stands in for a model that needs ``seconds`` per frame and sees three people."""

    def __init__(self, seconds: float = 0.0, boxes: np.ndarray = QUEUE_BOXES) -> None:
        self.seconds = seconds
        self.boxes = boxes
        self.calls = 0
        self.passes = 0  # one full-frame pass a frame, no near model
        self.near_passes = 0

    def detect(self, frame: Frame) -> Detections:
        self.calls += 1
        self.passes += 1
        if self.seconds:
            time.sleep(self.seconds)  # simulated inference work, not synchronisation
        n = len(self.boxes)
        return Detections(self.boxes.copy(), np.full(n, 0.9, np.float32), np.zeros(n, np.float32))


class IdentityTracker:
    """Track id = detection index (the fake detector's people never move)."""

    def update(self, det: Detections, frame_shape: tuple[int, int]) -> list[TrackedBox]:
        return [
            TrackedBox(i + 1, (float(b[0]), float(b[1]), float(b[2]), float(b[3])), float(c))
            for i, (b, c) in enumerate(zip(det.xyxy, det.conf, strict=True))
        ]

    def reset(self) -> None:
        pass


class PacedCapture(FakeCapture):
    """A camera at ``fps`` frames per second (read at that pace by the source)."""

    def __init__(self, n: int, fps: float) -> None:
        super().__init__(n)
        self.fps = fps

    def get(self, prop: int) -> float:
        return self.fps


def _daemon(
    site_id: str, broker: BrokerConfig, opener: Callable[[str], Any], detector: SlowDetector, **kw: Any
) -> VisionDaemon:
    site = make_site(site_id)
    d = VisionDaemon(
        site,
        "cam-1",
        broker=broker,
        clock=SystemClock(),
        detector=detector,
        tracker=IdentityTracker(),
        **kw,
    )
    d.source = FrameSource(
        "rtsp://camera.invalid/1",
        opener=opener,
        realtime=True,
        backoff_s=(0.05, 0.1),
        on_stream=d._stream_events.append,
    )
    return d


def _run(d: VisionDaemon, **kw: Any) -> threading.Thread:
    t = threading.Thread(target=d.run, kwargs=kw, daemon=True)
    t.start()
    return t


def test_slow_model_drops_frames_and_reports_them(
    site_id: str, broker_cfg: BrokerConfig, mqtt_probe: Any
) -> None:
    probe = mqtt_probe(camera_status_topic(site_id, "cam-1"))
    det = SlowDetector(seconds=0.1)  # 10 fps model on a 50 fps camera
    d = _daemon(site_id, broker_cfg, lambda _s: PacedCapture(10_000, fps=50), det)
    started = time.monotonic()
    t = _run(d, max_frames=8)
    t.join(30)
    assert not t.is_alive()
    elapsed = time.monotonic() - started
    c = d.source.counters()
    assert c.processed == det.calls == 8
    assert c.read == c.processed + c.dropped or c.read == c.processed + c.dropped + 1
    assert c.dropped >= 8  # about 4 of 5 frames dropped
    assert elapsed < 8 * 0.1 * 4  # kept up with real time instead of queueing 50 fps
    statuses = [decode(m.payload) for m in _drain_until(probe, lambda m: m.state == Presence.OFFLINE)]
    final = [s for s in statuses if isinstance(s, CameraStatus) and s.frames_processed]
    assert final
    assert final[-1].frames_dropped >= 8
    assert final[-1].frames_processed == 8


def _drain_until(probe: Any, done: Callable[[Any], bool], timeout: float = 20.0) -> list[Any]:
    out = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = probe.get(timeout=max(0.1, deadline - time.monotonic()))
        out.append(msg)
        if done(decode(msg.payload)):
            return out
    raise AssertionError("condition not met")


def _retained(broker: BrokerConfig, topic: str, mqtt_probe: Any, mosquitto: Mosquitto | None = None) -> Any:
    probe = mqtt_probe(topic, broker=mosquitto) if mosquitto else mqtt_probe(topic)
    msg = probe.get(timeout=10, topic=topic)
    assert msg.retain
    return decode(msg.payload, topic)


def test_restart_replaces_stale_retained_counts_with_zero(
    site_id: str, broker_cfg: BrokerConfig, mqtt_probe: Any, clock: Any
) -> None:
    topic = zone_state_topic(site_id, "cam-1", "queue-a")
    # A previous instance died with 7 people in the queue retained on the broker.
    stale = Stamper(site_id, "cam-1", clock=clock).make(
        ZoneState,
        zone="queue-a",
        kind=ZoneKind.QUEUE,
        occupancy=7,
        count=7,
        queue_length=7,
        entered_total=9,
        exited_total=2,
    )
    c = make_client("stale-writer", broker_cfg)
    connect_and_wait(c, broker_cfg)
    publish(c, stale).wait_for_publish(5)
    c.loop_stop()
    c.disconnect()
    assert _retained(broker_cfg, topic, mqtt_probe).count == 7

    # The restarted daemon has no picture yet (camera unreachable): counts must still be zero.
    def unreachable(_s: str) -> FakeCapture:
        return FakeCapture(0, opened=False)

    d = _daemon(site_id, broker_cfg, unreachable, SlowDetector())
    t = _run(d)
    try:
        assert wait_until(lambda: d.publisher.published >= 4, timeout=10)
        state = _retained(broker_cfg, topic, mqtt_probe)
        assert (state.count, state.occupancy, state.queue_length) == (0, 0.0, 0)
        assert state.entered_total == 0
        assert state.exited_total == 0
    finally:
        d.stop()
        t.join(10)


def test_stream_loss_zeroes_retained_counts(site_id: str, broker_cfg: BrokerConfig, mqtt_probe: Any) -> None:
    topic = zone_state_topic(site_id, "cam-1", "queue-a")
    probe = mqtt_probe(topic)
    opens: list[int] = []

    def flaky(_s: str) -> FakeCapture:
        opens.append(1)
        # First connection: 3 s of frames, then the stream drops; later ones never open.
        return PacedCapture(90, fps=30) if len(opens) == 1 else FakeCapture(0, opened=False)

    d = _daemon(site_id, broker_cfg, flaky, SlowDetector())
    t = _run(d)
    try:
        seen = _drain_until(probe, lambda m: m.count == 3)
        assert seen
        zeroed = _drain_until(probe, lambda m: m.count == 0 and m.exited_total == 3, timeout=30)
        last = decode(zeroed[-1].payload)
        assert isinstance(last, ZoneState)
        assert last.queue_length == 0
        assert last.occupancy == 0
        assert all(getattr(decode(m.payload), "count", 0) >= 0 for m in probe.seen)
    finally:
        d.stop()
        t.join(10)
    status = _retained(broker_cfg, camera_status_topic(site_id, "cam-1"), mqtt_probe)
    assert status.state == Presence.OFFLINE
    assert not status.will


def test_last_will_and_reconnect(site_id: str, fresh_mosquitto: Mosquitto, mqtt_probe: Any) -> None:
    broker = BrokerConfig(host=fresh_mosquitto.host, port=fresh_mosquitto.port, keepalive_s=5)
    status_topic = camera_status_topic(site_id, "cam-1")
    d = _daemon(site_id, broker, lambda _s: PacedCapture(100_000, fps=20), SlowDetector(seconds=0.02))
    t = _run(d)
    try:
        probe = mqtt_probe(
            status_topic, zone_state_topic(site_id, "cam-1", "queue-a"), broker=fresh_mosquitto
        )
        assert _drain_until(probe, lambda m: getattr(m, "count", None) == 3)
        fresh_mosquitto.restart()
        # After the broker comes back the daemon republishes online status and zone states.
        probe2 = mqtt_probe(status_topic, broker=fresh_mosquitto)
        assert _drain_until(probe2, lambda m: m.state == Presence.ONLINE and not m.will, timeout=30)
        # Kill the daemon's connection uncleanly: the broker publishes the last-will.
        client = d.publisher.client
        sock = client.socket() if client is not None else None
        assert sock is not None
        sock.close()
        assert _drain_until(probe2, lambda m: m.will and m.state == Presence.OFFLINE, timeout=30)
    finally:
        d.stop()
        t.join(15)


def test_metrics_read_the_daemon_and_pass_promtool(site_id: str, broker_cfg: BrokerConfig) -> None:
    from edge.vision.metrics import render
    from tests.helpers_metrics import promtool_check, samples, value

    d = _daemon(site_id, broker_cfg, lambda _s: PacedCapture(10_000, fps=50), SlowDetector(seconds=0.01))
    t = _run(d, max_frames=5)
    t.join(30)
    assert not t.is_alive()
    text = render(d).decode()
    promtool_check(text)
    found = samples(text)
    ids = {"site": site_id, "camera": "cam-1"}
    assert value(found, "lobbywatch_vision_frames_total", outcome="processed", **ids) == 5
    assert value(found, "lobbywatch_vision_stage_seconds_total", stage="detect", **ids) > 0
    assert value(found, "lobbywatch_vision_published_total", **ids) > 0
    assert value(found, "lobbywatch_vision_detector_passes_total", model="camera", **ids) == 5
    assert value(found, "lobbywatch_vision_detector_passes_total", model="near", **ids) == 0
