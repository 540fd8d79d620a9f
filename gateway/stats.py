"""Running counters of the gateway, shared by its threads and read by the health server.

Counts since this process started; the outbox keeps the lifetime totals (shed, quarantined
per reason) across restarts (:meth:`gateway.outbox.GatewayOutbox.backlog`).
"""

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
        self.received = 0  # MQTT messages received
        self.stored = 0  # of those, written to the outbox
        self.local_duplicates = 0  # of those, already in the outbox (redelivered by the broker)
        self.ignored = 0  # of those, downlink topics and retained-clear payloads
        self.quarantined_here = 0  # of those, quarantined by the gateway (stage ``gateway``)
        self.rejected_by_server = 0  # quarantined after the server refused them (``server_rejected``)
        self.forwarded = 0  # messages the server answered accepted or duplicate
        self.server_duplicates = 0  # of those, duplicates
        self.batches = 0  # requests the server answered (a split batch counts each piece)
        self.retries = 0  # sends that failed and will be retried (refused, timeout, 401/403, 5xx)
        self.shed_here = 0  # samples shed over the outbox's size cap
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
