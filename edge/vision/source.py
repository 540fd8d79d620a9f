"""Frame sources: a camera stream, a USB camera or a video file, read in a thread.

The reader thread always keeps only the newest frame: a slow model takes the latest picture
and the frames it had no time for are counted as dropped, so processing never falls behind
real time. Streams that fail or stop are reopened with exponential back-off; video files are
read at their own frame rate (as a camera would deliver them) and loop when asked.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from lobbywatch.backoff import Backoff

log = logging.getLogger(__name__)

Frame = npt.NDArray[np.uint8]


class Capture(Protocol):
    """The part of ``cv2.VideoCapture`` the reader uses (tests pass fakes)."""

    def isOpened(self) -> bool: ...

    def read(self) -> tuple[bool, Any]: ...

    def get(self, prop: int) -> float: ...

    def release(self) -> None: ...


def parse_source(spec: str) -> int | str:
    """A USB camera index (``"0"``) becomes an int; URLs and paths stay strings."""
    return int(spec) if spec.isdigit() else spec


def is_file_source(spec: str) -> bool:
    return not spec.isdigit() and "://" not in spec


def open_capture(spec: str) -> Capture:
    import cv2

    cap: Capture = cv2.VideoCapture(parse_source(spec))
    return cap


@dataclass(frozen=True, slots=True)
class FrameItem:
    """A frame and its number (frames read so far when it arrived)."""

    index: int
    frame: Frame


@dataclass(frozen=True, slots=True)
class SourceCounters:
    read: int
    processed: int
    dropped: int
    stream_ok: bool
    reconnects: int


class LatestFrame:
    """A one-slot mailbox: ``put`` replaces an unconsumed frame (counting it dropped)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: FrameItem | None = None
        self._closed = False
        self.read = 0
        self.processed = 0
        self.dropped = 0

    def put(self, frame: Frame) -> None:
        with self._cond:
            self.read += 1
            if self._item is not None:
                self.dropped += 1
            self._item = FrameItem(self.read, frame)
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> FrameItem | None:
        """The newest frame not yet taken; ``None`` on timeout or when closed and empty."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._item is not None or self._closed, timeout):
                return None
            item, self._item = self._item, None
            if item is not None:
                self.processed += 1
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


class FrameSource:
    """Reads ``spec`` in a daemon thread into a :class:`LatestFrame` slot.

    ``on_stream`` is called with ``True``/``False`` when the stream comes back or is lost.
    """

    def __init__(
        self,
        spec: str,
        *,
        loop: bool = False,
        realtime: bool | None = None,
        opener: Callable[[str], Capture] = open_capture,
        backoff_s: tuple[float, float] = (1.0, 30.0),
        on_stream: Callable[[bool], None] | None = None,
    ) -> None:
        self.spec = spec
        self.loop = loop
        self.is_file = is_file_source(spec)
        self.realtime = self.is_file if realtime is None else realtime
        self._opener = opener
        self._backoff = backoff_s
        self._on_stream = on_stream
        self.slot = LatestFrame()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"frames:{spec}", daemon=True)
        self.stream_ok = False
        self.reconnects = 0
        self.finished = threading.Event()

    def start(self) -> FrameSource:
        if self.is_file and not Path(self.spec).exists():
            raise FileNotFoundError(f"video file not found: {self.spec}")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.slot.close()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def get(self, timeout: float | None = None) -> FrameItem | None:
        return self.slot.get(timeout)

    def counters(self) -> SourceCounters:
        s = self.slot
        return SourceCounters(s.read, s.processed, s.dropped, self.stream_ok, self.reconnects)

    def _set_stream(self, ok: bool) -> None:
        if ok != self.stream_ok:
            self.stream_ok = ok
            if ok:
                log.info("stream %s open", self.spec)
            else:
                log.warning("stream %s lost", self.spec)
            if self._on_stream is not None:
                self._on_stream(ok)

    def _run(self) -> None:
        backoff = Backoff(*self._backoff)
        try:
            while not self._stop.is_set():
                cap = self._opener(self.spec)
                if not cap.isOpened():
                    cap.release()
                    self._set_stream(False)
                    if self.is_file and not self.loop:
                        log.error("cannot open video file %s", self.spec)
                        return
                    self._stop.wait(backoff.next_delay())
                    self.reconnects += 1
                    continue
                backoff.reset()
                self._set_stream(True)
                ended = self._pump(cap)
                cap.release()
                if self.is_file:
                    if not self.loop or ended == "stop":
                        return
                    continue  # loop the file
                if ended != "stop":
                    self._set_stream(False)
                    self.reconnects += 1
                    self._stop.wait(backoff.next_delay())
        finally:
            self.finished.set()
            self.slot.close()

    def _pump(self, cap: Capture) -> str:
        """Read until the stream ends (``"eof"``) or we are stopped (``"stop"``)."""
        fps = cap.get(5) if self.realtime else 0.0  # 5 = cv2.CAP_PROP_FPS
        period = 1.0 / fps if fps and 0 < fps < 240 else 0.0
        next_at = time.monotonic()
        while not self._stop.is_set():
            ok, frame = cap.read()
            if not ok or frame is None:
                return "eof"
            self.slot.put(np.asarray(frame, np.uint8))
            if period:
                next_at += period
                wait = next_at - time.monotonic()
                if wait > 0:
                    self._stop.wait(wait)
                else:
                    next_at = time.monotonic()
        return "stop"
