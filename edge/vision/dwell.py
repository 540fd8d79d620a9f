"""Per-track dwell clocks, occupancy smoothing and service-time statistics.

A dwell opens when a track's entry into a zone is confirmed (its start is the first frame of
the inside streak) and closes exactly once: on a confirmed exit (outcome ``exited``, ended =
last frame seen inside) or when the track has been unseen for the lost-track timeout
(outcome ``lost``, ended = last time it was seen). Closed dwells become completed-wait
records in queue/waiting zones (kind ``wait``) and counter zones (kind ``service``).
How long a *person* has waited is not a dwell: it belongs to their visit
(:mod:`edge.vision.visits`), which runs across zones.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from lobbywatch.protocol.enums import WaitOutcome

Point = tuple[float, float]


@dataclass(slots=True)
class OpenDwell:
    track: int
    started: datetime
    last_seen: datetime
    where: Point


@dataclass(frozen=True, slots=True)
class ClosedDwell:
    zone: str
    track: int
    started: datetime
    ended: datetime
    outcome: WaitOutcome

    @property
    def duration_s(self) -> float:
        return max(0.0, (self.ended - self.started).total_seconds())


class DwellBook:
    """The open dwells of one zone."""

    def __init__(self, zone: str) -> None:
        self.zone = zone
        self._open: dict[int, OpenDwell] = {}

    def open(self, track: int, started: datetime, where: Point) -> None:
        """Start a track's clock (a second entry without an exit keeps the first clock)."""
        self._open.setdefault(track, OpenDwell(track, started, started, where))

    def seen(self, track: int, now: datetime, where: Point) -> None:
        d = self._open.get(track)
        if d is not None:
            d.last_seen = now
            d.where = where

    def close(self, track: int, ended: datetime, outcome: WaitOutcome) -> ClosedDwell | None:
        """Stop a track's clock; ``None`` when it had none (so a dwell closes only once)."""
        d = self._open.pop(track, None)
        if d is None:
            return None
        end = max(ended, d.started)
        return ClosedDwell(self.zone, track, d.started, end, outcome)

    def discard(self, track: int) -> None:
        """Drop a track's clock without a record (the track turned out to be staff)."""
        self._open.pop(track, None)

    def close_all(self, now: datetime, outcome: WaitOutcome) -> list[ClosedDwell]:
        """Close every clock (stream lost, shutdown)."""
        out = [c for t in list(self._open) if (c := self.close(t, now, outcome)) is not None]
        return out

    def tracks(self) -> set[int]:
        return set(self._open)

    def duration(self, track: int, now: datetime) -> float | None:
        d = self._open.get(track)
        return None if d is None else max(0.0, (now - d.started).total_seconds())

    def longest(self, now: datetime) -> tuple[float, Point] | None:
        """The longest current dwell and where that person stands, or ``None``."""
        if not self._open:
            return None
        d = min(self._open.values(), key=lambda o: o.started)
        return max(0.0, (now - d.started).total_seconds()), d.where

    def __len__(self) -> int:
        return len(self._open)


class OccupancySmoother:
    """Occupancy robust to one-frame drop-outs: the median of the last ``window`` counts.

    With the default window of 3, a single frame in which the detector misses (or
    double-counts) someone does not move the value at all; a real change shows after two
    frames.
    """

    def __init__(self, window: int = 3) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        self._counts: deque[int] = deque(maxlen=window)

    def update(self, count: int) -> float:
        self._counts.append(count)
        ordered = sorted(self._counts)
        n = len(ordered)
        mid = n // 2
        return float(ordered[mid]) if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0

    def reset(self) -> None:
        self._counts.clear()


class ServiceStats:
    """Recent completed service times (counter dwells) and queue departures."""

    def __init__(self, window: timedelta = timedelta(minutes=30), max_samples: int = 50) -> None:
        self.window = window
        self._services: deque[tuple[datetime, float]] = deque(maxlen=max_samples)
        self._departures: deque[datetime] = deque(maxlen=1000)

    def add_service(self, ended: datetime, duration_s: float) -> None:
        self._services.append((ended, duration_s))

    def add_departure(self, at: datetime) -> None:
        self._departures.append(at)

    def mean_service_s(self, now: datetime) -> float | None:
        recent = [d for t, d in self._services if now - t <= self.window]
        return sum(recent) / len(recent) if recent else None

    def departure_rate(self, now: datetime) -> float | None:
        """Departures per second over the window, or ``None`` with too little history."""
        recent = [t for t in self._departures if now - t <= self.window]
        if len(recent) < 3:
            return None
        return len(recent) / self.window.total_seconds()
