"""End to end: a video written from ultralytics' bundled bus.jpg runs through the daemon with
the real bundled model, and the retained zone states on a real Mosquitto hold the right counts.

What the bundled model sees in bus.jpg (810x1080) at imgsz 416..640, confidence 0.25: three
people standing in front of the bus, anchors (feet) at about x=125..130, 280..291 and
725..735 px, y=870..910 px. (The fourth person, cut by the left edge, is not detected.) The
zones split the picture at x=450: two people in the queue, one in the waiting area.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import cv2
import pytest
import ultralytics

from edge.vision.daemon import VisionDaemon
from lobbywatch.config.site import BrokerConfig, SiteConfig
from lobbywatch.protocol.codec import decode
from lobbywatch.protocol.messages import ZoneState
from lobbywatch.protocol.topics import zone_state_topic

ASSETS = Path(ultralytics.__file__).parent / "assets"


def _video(tmp_path: Path, frames: int = 6) -> Path:
    img = cv2.imread(str(ASSETS / "bus.jpg"))
    assert img is not None
    h, w = img.shape[:2]
    path = tmp_path / "bus.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 5.0, (w, h))
    assert writer.isOpened()
    for _ in range(frames):
        writer.write(img)
    writer.release()
    return path


def _site(site_id: str, video: Path) -> SiteConfig:
    return SiteConfig.model_validate(
        {
            "site": site_id,
            "name": {"en": "E2E hall", "zh-CN": "端到端测试厅"},
            "opening_hours": [{"days": ["mon"], "open": "09:00", "close": "18:00"}],
            "zones": [{"id": "queue-bus", "kind": "queue"}, {"id": "waiting-bus", "kind": "waiting"}],
            "cameras": [
                {
                    "id": "cam-bus",
                    "source": str(video),
                    "loop": True,
                    "counting": {"imgsz": 416, "confidence": 0.25},
                    "entry_frames": 1,
                    "exit_frames": 3,
                    "zones": [
                        {"zone": "queue-bus", "polygon": [[0, 600], [450, 600], [450, 1080], [0, 1080]]},
                        {
                            "zone": "waiting-bus",
                            "polygon": [[450, 600], [810, 600], [810, 1080], [450, 1080]],
                        },
                    ],
                }
            ],
        }
    )


@pytest.mark.real
def test_daemon_publishes_the_right_retained_counts(
    tmp_path: Path, site_id: str, broker_cfg: BrokerConfig, mqtt_probe: Any
) -> None:
    site = _site(site_id, _video(tmp_path))
    want = {"queue-bus": 2, "waiting-bus": 1}
    topics = {zone: zone_state_topic(site_id, "cam-bus", zone) for zone in want}
    live = mqtt_probe(*topics.values())
    daemon = VisionDaemon(site, "cam-bus", broker=broker_cfg)
    thread = threading.Thread(target=daemon.run, kwargs={"max_frames": 40}, daemon=True)
    thread.start()
    try:
        for zone, n in want.items():
            while True:  # live states on the zone's topic until the count is reached
                msg = live.get(timeout=120, topic=topics[zone])
                state = decode(msg.payload, msg.topic)
                assert isinstance(state, ZoneState)
                assert state.count >= 0
                if state.count == n:
                    break
        # While the daemon runs, a late subscriber gets the same counts, retained.
        for zone, n in want.items():
            late = mqtt_probe(topics[zone])
            msg = late.get(timeout=10, topic=topics[zone])
            state = decode(msg.payload, msg.topic)
            assert msg.retain
            assert isinstance(state, ZoneState)
            assert (state.count, state.queue_length) == (n, n)
    finally:
        daemon.stop()
        thread.join(60)
    assert not thread.is_alive()
    # A clean stop zeroes the retained state (no stale counts).
    for topic in topics.values():
        msg = mqtt_probe(topic).get(timeout=10, topic=topic)
        state = decode(msg.payload, msg.topic)
        assert isinstance(state, ZoneState)
        assert state.count == 0
