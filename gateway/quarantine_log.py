"""Rate-limited warnings about quarantined messages, so a flood of bad payloads cannot flood
the log: the first message of each reason is logged at once, then one summary line per
interval with the counts by reason. Every message is still kept in the quarantine table
(``docs/gateway.md``)."""

from __future__ import annotations

import logging
from collections import Counter

from gateway.outbox import Quarantined


class QuarantineLog:
    """Logs quarantined messages on ``log`` at most once per reason per ``interval_s``."""

    def __init__(self, log: logging.Logger, interval_s: float = 60.0) -> None:
        self._log = log
        self.interval_s = interval_s
        self._seen: set[str] = set()  # reasons logged in full this interval
        self._held: Counter[str] = Counter()  # not logged yet, by reason
        self._since: float | None = None

    def note(self, item: Quarantined, now: float) -> None:
        """One quarantined message: logged now if it is the first of its reason this interval."""
        if self._since is None:
            self._since = now
        if item.reason not in self._seen:
            self._seen.add(item.reason)
            self._log.warning(
                "quarantined a message on %s: %s (%s)", item.topic, item.reason, item.detail[:200]
            )
        else:
            self._held[item.reason] += 1

    def flush(self, now: float, *, force: bool = False) -> None:
        """Log the summary of the interval if it is over (or ``force``), and start a new one."""
        if self._since is None or (not force and now - self._since < self.interval_s):
            return
        if self._held:
            counts = ", ".join(f"{reason}: {n}" for reason, n in sorted(self._held.items()))
            self._log.warning(
                "quarantined %d more messages in the last %.0f s (%s)",
                sum(self._held.values()),
                now - self._since,
                counts,
            )
        self._seen.clear()
        self._held.clear()
        self._since = None
