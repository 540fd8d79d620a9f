"""Running counters of the gateway, shared by its threads and read by the health server."""

from __future__ import annotations

import threading
from collections import deque

from lobbywatch.clock import Clock


class Stats:
    """Thread-safe counters (since this process started) and a forwarding-rate window."""

    def __init__(self, clock: Clock, rate_window_s: float = 10.0) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._window = rate_window_s
        self._forwarded_at: deque[tuple[float, int]] = deque()
        self.received = 0
        self.stored = 0
        self.local_duplicates = 0
        self.ignored = 0
        self.quarantined_here = 0
        self.rejected_by_server = 0
        self.forwarded = 0
        self.server_duplicates = 0
        self.batches = 0
        self.retries = 0
        self.shed_here = 0
        self.mqtt_connected = False
        self.mqtt_subscribed = False
        self.mqtt_connects = 0
        self.last_send_error: str | None = None

    def add(self, name: str, by: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + by)

    def forwarded_batch(self, accepted: int, duplicates: int, rejected: int) -> None:
        now = self._clock.monotonic()
        with self._lock:
            self.forwarded += accepted + duplicates
            self.server_duplicates += duplicates
            self.rejected_by_server += rejected
            self.batches += 1
            self.last_send_error = None
            self._forwarded_at.append((now, accepted + duplicates))

    def forwarded_per_s(self) -> float:
        now = self._clock.monotonic()
        with self._lock:
            while self._forwarded_at and self._forwarded_at[0][0] < now - self._window:
                self._forwarded_at.popleft()
            return sum(n for _, n in self._forwarded_at) / self._window
