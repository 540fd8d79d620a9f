"""Injectable clocks: wall time in UTC and a monotonic timer.

Everything that depends on time takes a :class:`Clock`, so tests drive minutes in
milliseconds with :class:`FixedClock`.

>>> c = FixedClock.at("2026-11-23T09:00:00Z")
>>> c.advance(600)
>>> c.now().isoformat()
'2026-11-23T09:10:00+00:00'
>>> c.monotonic()
600.0
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    def now(self) -> datetime:
        """Current wall time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin, never going backwards."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class FixedClock:
    """A clock that moves only when told to. Thread-safe."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)
        self._mono = 0.0
        self._lock = threading.Lock()

    @classmethod
    def at(cls, iso: str) -> FixedClock:
        return cls(datetime.fromisoformat(iso.replace("Z", "+00:00")))

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        with self._lock:
            self._now += timedelta(seconds=seconds)
            self._mono += seconds

    def set(self, when: datetime) -> None:
        """Jump the wall time (and the monotonic timer by the same amount) to ``when``."""
        with self._lock:
            delta = (when.astimezone(UTC) - self._now).total_seconds()
            if delta < 0:
                raise ValueError("a clock does not go backwards")
            self._now = when.astimezone(UTC)
            self._mono += delta


class ScaledClock:
    """Real time sped up by ``speed`` from ``start`` (used by simulators and the demo)."""

    def __init__(self, start: datetime, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._start = start.astimezone(UTC)
        self._origin = time.monotonic()
        self.speed = speed

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self.monotonic())

    def monotonic(self) -> float:
        return (time.monotonic() - self._origin) * self.speed
