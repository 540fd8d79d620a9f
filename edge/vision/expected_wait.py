"""Expected wait for someone joining a queue now.

Primary estimate (what is published)::

    expected_wait = queue_length × mean_service_time ÷ counters_serving

* ``mean_service_time`` is the mean of the completed counter dwells of the last 30 minutes.
  **Cold start**: before any service has been observed, the site's single-transaction
  limit (``thresholds.transaction_min``, 3 min by the floor rules) is used.
* ``counters_serving`` is the number of counter zones that feed the queue and are occupied
  now; at least 1 (someone will serve eventually), and when the camera sees none of those
  counters, the number of counters configured for the queue.

Cross-check (Little's law, ``L = λ W``): with ``λ`` the recent departure rate from the queue,
``W = L / λ``. When the two differ by more than a factor of two the daemon logs it; when the
service-time estimate is still cold and Little's law has enough history, the latter is used.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WaitEstimate:
    seconds: float
    service_s: float
    serving: int
    cold_start: bool
    littles_law_s: float | None

    @property
    def disagrees(self) -> bool:
        """True when Little's law and the service-time estimate differ by more than 2x."""
        if self.littles_law_s is None or self.seconds <= 0 or self.littles_law_s <= 0:
            return False
        ratio = self.seconds / self.littles_law_s
        return ratio > 2.0 or ratio < 0.5


def littles_law_wait(queue_length: int, departures_per_s: float | None) -> float | None:
    """``W = L / λ``; ``None`` without a departure rate."""
    if departures_per_s is None or departures_per_s <= 0:
        return None
    return queue_length / departures_per_s


def expected_wait(
    queue_length: int,
    mean_service_s: float | None,
    serving: int,
    *,
    cold_start_service_s: float,
    departures_per_s: float | None = None,
) -> WaitEstimate:
    """Expected wait (seconds) for someone joining a queue of ``queue_length`` now."""
    if queue_length < 0:
        raise ValueError("queue_length cannot be negative")
    serving = max(1, serving)
    littles = littles_law_wait(queue_length, departures_per_s)
    cold = mean_service_s is None
    service = cold_start_service_s if mean_service_s is None else mean_service_s
    seconds = queue_length * service / serving
    if cold and littles is not None:
        seconds = littles
    return WaitEstimate(seconds, service, serving, cold, littles)
