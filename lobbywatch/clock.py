"""Injectable clocks (wall time in UTC and a monotonic timer): the real one, :class:`FixedClock`
for tests, :class:`ScaledClock` for simulators, and the accelerated timeline several processes
share (:func:`default_clock`, :func:`timeline_env`). Everything that depends on time takes a
:class:`Clock`, so tests drive minutes in milliseconds:

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
    """Real time sped up by ``speed`` from ``start``: a simulator's clock outside a shared timeline."""

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


CLOCK_START_ENV = "LOBBYWATCH_CLOCK_START"
CLOCK_SPEED_ENV = "LOBBYWATCH_CLOCK_SPEED"
CLOCK_ORIGIN_ENV = "LOBBYWATCH_CLOCK_ORIGIN"


def default_clock() -> Clock:
    """The clock a command-line program runs on.

    Normally the real clock. The demo and the load test run every process of a simulated
    system on one accelerated timeline by setting ``LOBBYWATCH_CLOCK_START`` (the simulated
    time at which the timeline begins, ISO 8601 with offset), ``LOBBYWATCH_CLOCK_ORIGIN``
    (the real Unix time at which it began) and ``LOBBYWATCH_CLOCK_SPEED`` (simulated seconds
    per real second), so every process derives the same simulated "now".
    """
    import os

    start = os.environ.get(CLOCK_START_ENV)
    if not start:
        return SystemClock()
    speed = float(os.environ.get(CLOCK_SPEED_ENV, "1"))
    origin = float(os.environ.get(CLOCK_ORIGIN_ENV, str(time.time())))
    return SharedTimelineClock(datetime.fromisoformat(start.replace("Z", "+00:00")), speed, origin)


def simulation_clock(start: datetime, speed: float) -> Clock:
    """The clock of a simulator: the shared timeline when one is set (demo, load test),
    else ``speed`` times real time from ``start``."""
    import os

    return default_clock() if os.environ.get(CLOCK_START_ENV) else ScaledClock(start, speed)


def timeline_env(start: datetime, speed: float, origin: float | None = None) -> dict[str, str]:
    """Environment variables that put child processes on one accelerated timeline."""
    return {
        CLOCK_START_ENV: start.astimezone(UTC).isoformat(),
        CLOCK_SPEED_ENV: repr(speed),
        CLOCK_ORIGIN_ENV: repr(time.time() if origin is None else origin),
    }


class SharedTimelineClock:
    """Accelerated time that several processes agree on.

    Simulated now = ``start + (real unix time - origin) * speed``.

    >>> c = SharedTimelineClock(datetime(2026, 11, 23, 1, 0, tzinfo=UTC), 60.0, time.time())
    >>> 0 <= (c.now() - datetime(2026, 11, 23, 1, 0, tzinfo=UTC)).total_seconds() < 60
    True
    """

    def __init__(self, start: datetime, speed: float, origin: float) -> None:
        if start.tzinfo is None:
            raise ValueError(f"{CLOCK_START_ENV} needs a UTC offset")
        if speed <= 0:
            raise ValueError(f"{CLOCK_SPEED_ENV} must be positive")
        self._start = start.astimezone(UTC)
        self.speed = speed
        self._origin = origin

    def now(self) -> datetime:
        return self._start + timedelta(seconds=(time.time() - self._origin) * self.speed)

    def monotonic(self) -> float:
        return time.monotonic() * self.speed
