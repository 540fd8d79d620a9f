"""The frame reader keeps only the newest frame: a slow model drops frames, never lags."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from edge.vision.source import FrameSource, LatestFrame, parse_source
from lobbywatch.services import wait_until


class FakeCapture:
    """A camera delivering numbered frames as fast as they are read, up to ``n``."""

    def __init__(self, n: int, opened: bool = True, gate: threading.Semaphore | None = None) -> None:
        self.n = n
        self.i = 0
        self.opened = opened
        self.gate = gate

    def isOpened(self) -> bool:
        return self.opened

    def read(self) -> tuple[bool, Any]:
        if self.gate is not None:
            self.gate.acquire()
        if self.i >= self.n:
            return False, None
        self.i += 1
        return True, np.full((4, 4, 3), self.i % 256, np.uint8)

    def get(self, prop: int) -> float:
        return 0.0

    def release(self) -> None:
        pass


def test_latest_frame_slot_replaces_and_counts_drops() -> None:
    slot = LatestFrame()
    for _ in range(5):
        slot.put(np.zeros((2, 2, 3), np.uint8))
    item = slot.get(timeout=1)
    assert item is not None
    assert item.index == 5
    assert (slot.read, slot.processed, slot.dropped) == (5, 1, 4)
    assert slot.get(timeout=0.01) is None


def test_slow_consumer_gets_the_newest_frame_and_drops_the_rest() -> None:
    gate = threading.Semaphore(0)
    src = FrameSource(
        "rtsp://camera.invalid/s", opener=lambda _s: FakeCapture(1000, gate=gate), realtime=False
    )
    src.start()
    try:
        processed = []
        for _round in range(5):
            # The camera delivers 10 frames while the "model" works on one.
            before = src.slot.read
            for _ in range(10):
                gate.release()
            target = before + 10
            assert wait_until(lambda: src.slot.read >= target, timeout=10)  # noqa: B023
            item = src.get(timeout=5)
            assert item is not None
            assert item.index == src.slot.read  # always the newest
            processed.append(item.index)
        c = src.counters()
        assert c.processed == 5
        assert c.read == c.processed + c.dropped
        assert c.dropped >= 40
        assert processed == sorted(processed)
    finally:
        for _ in range(2000):
            gate.release()
        src.stop()


def test_stream_reconnects_with_backoff_and_reports_loss() -> None:
    events: list[bool] = []
    opens: list[int] = []

    def opener(_spec: str) -> FakeCapture:
        opens.append(1)
        # First attempt fails, then a stream that ends after 3 frames, then more.
        return FakeCapture(3, opened=len(opens) != 1)

    src = FrameSource(
        "rtsp://camera.invalid/s", opener=opener, backoff_s=(0.01, 0.05), on_stream=events.append
    )
    src.start()
    try:
        assert wait_until(lambda: len(opens) >= 4 and src.slot.read >= 6, timeout=10)
        assert src.reconnects >= 2
        assert events[:3] == [True, False, True]
    finally:
        src.stop()


def test_video_file_loops_when_asked(tmp_path: Any) -> None:
    f = tmp_path / "v.mp4"
    f.write_bytes(b"")
    src = FrameSource(str(f), loop=True, realtime=False, opener=lambda _s: FakeCapture(2))
    src.start()
    try:
        assert wait_until(lambda: src.slot.read >= 7, timeout=10)
    finally:
        src.stop()
    once = FrameSource(str(f), loop=False, realtime=False, opener=lambda _s: FakeCapture(2))
    once.start()
    assert once.finished.wait(10)
    assert once.slot.read == 2


def test_parse_source() -> None:
    assert parse_source("0") == 0
    assert parse_source("rtsp://x/1") == "rtsp://x/1"
