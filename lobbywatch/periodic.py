"""A daemon thread that runs a step every few seconds until stopped: the one timer loop of
the server's scheduled jobs (alert ticks, visit settling, the monthly device logs).

The cadence is wall-clock (a wait on a stop event with a real timeout); what a step decides
stays on the caller's injected clock. A step that raises is logged and counted and the next
one runs on time: a step never ends the thread. See docs/architecture.md ("Shared pieces").
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class PeriodicThread:
    """Runs ``step`` every ``every_s`` seconds in a daemon thread named ``name``, between
    :meth:`start` and :meth:`stop`; with ``at_start`` the first step runs as soon as it starts,
    else after the first interval. Start again after a stop to resume."""

    def __init__(
        self, name: str, every_s: float, step: Callable[[], object], *, at_start: bool = False
    ) -> None:
        self.name = name
        self.every_s = every_s
        self.failures = 0
        """Steps that raised so far."""
        self._step = step
        self._at_start = at_start
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Started and not stopped since."""
        return self._thread is not None

    @property
    def stopping(self) -> bool:
        """:meth:`stop` was called (and no start since): a long step may end early."""
        return self._stop.is_set()

    def start(self) -> None:
        """Start the thread (nothing when it runs already)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float) -> None:
        """Stop the thread: the step running now ends first (waited for up to ``timeout`` s)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        if self._at_start:
            self._once()
        while not self._stop.wait(self.every_s):
            self._once()

    def _once(self) -> None:
        try:
            self._step()
        except Exception:  # the timer must survive anything: the next step runs on time
            self.failures += 1
            log.exception("%s: a step failed", self.name)
