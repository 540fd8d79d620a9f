"""Helper processes for the stateless half of ingest (``ingest.prepare_workers``):
:class:`PrepareWorkers` runs :mod:`server.ingest_prepare` in a process pool forked from a
clean fork server, rebuilds the pool when a helper dies (that batch is answered 503), and
falls back to the server's thread pool with 0 helpers or when they cannot start.

The stateful half stays in :mod:`server.ingest`. See ``docs/server.md``, "Ingest".
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime

from fastapi.concurrency import run_in_threadpool

from lobbywatch.gc_tuning import settle_heap
from lobbywatch.protocol.timecheck import MAX_AGE_DAYS
from server.ingest_prepare import PreparedBatch, prepare_body

log = logging.getLogger(__name__)

_PRELOAD = ["server.ingest_prepare"]
# In a helper: the halls' wait limits and the oldest storable message's age, set by _init.
_limits: dict[str, float] = {}
_max_age_days = MAX_AGE_DAYS


def _init(wait_limits: dict[str, float], max_age_days: float, server_pid: int) -> None:
    global _max_age_days
    _limits.clear()
    _limits.update(wait_limits)
    _max_age_days = max_age_days
    threading.Thread(target=_exit_with, args=(server_pid,), name="server-watch", daemon=True).start()
    settle_heap()


def _exit_with(server_pid: int, interval_s: float = 1.0) -> None:
    """End this helper once the server process is gone (killed, say, with no clean shutdown).

    A pool worker holds both ends of its task pipe, so it never sees end-of-file when the
    server dies; without this it would wait for work forever.
    """
    while True:
        time.sleep(interval_s)
        try:
            os.kill(server_pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:  # the pid now belongs to another user's process
            os._exit(0)


def _prepare(body: bytes, now: datetime) -> PreparedBatch:
    return prepare_body(body, _limits, now, _max_age_days)


def _ready() -> bool:
    return True


class WorkersUnavailable(RuntimeError):
    """A helper process died with the batch: answer 503 so the gateway resends it."""


class PrepareWorkers:
    """Runs :func:`~server.ingest_prepare.prepare_body` in ``n`` helper processes, or in threads."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._limits: dict[str, float] = {}
        self._max_age_days = MAX_AGE_DAYS
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self.restarts = 0

    def start(self, wait_limits: Mapping[str, float], max_age_days: float = MAX_AGE_DAYS) -> None:
        """Start the helpers and wait until each has answered once (no cold first batch).

        ``max_age_days``: older messages are rejected (the server's idempotency window)."""
        self._limits = dict(wait_limits)
        self._max_age_days = max_age_days
        if self.n and self._pool is None:
            self._pool = self._start_or_fall_back()

    def _start_or_fall_back(self) -> ProcessPoolExecutor | None:
        """A started pool; or None (prepare in the server process) when helpers cannot start."""
        try:
            return self._new_pool()
        except Exception:  # e.g. no fork server on this system: ingest still works, slower
            log.exception("ingest: prepare helpers could not start; preparing in the server process")
            self.n = 0
            return None

    def _new_pool(self) -> ProcessPoolExecutor:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD)
        pool = ProcessPoolExecutor(
            self.n,
            mp_context=ctx,
            initializer=_init,
            initargs=(self._limits, self._max_age_days, os.getpid()),
        )
        warm: list[Future[bool]] = [pool.submit(_ready) for _ in range(self.n)]
        for f in warm:
            f.result(timeout=120)
        log.info("ingest: %d prepare helper processes started", self.n)
        return pool

    async def prepare(self, body: bytes, now: datetime) -> PreparedBatch:
        """The batch received at ``now``, prepared; raises ``BadBatch`` for a body that is not a batch."""
        pool = self._pool
        if pool is None:
            return await run_in_threadpool(prepare_body, body, self._limits, now, self._max_age_days)
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, _prepare, body, now)
        except BrokenProcessPool:
            await run_in_threadpool(self._replace, pool)
            raise WorkersUnavailable("an ingest helper process stopped; resend the batch") from None

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is not broken:  # another request already rebuilt it
                return
            log.error("ingest: a prepare helper process died; starting a new pool")
            broken.shutdown(wait=False, cancel_futures=True)
            self.restarts += 1
            self._pool = self._start_or_fall_back()

    def pids(self) -> list[int]:
        """Process ids of the running helpers (for tests and status)."""
        pool = self._pool
        procs = getattr(pool, "_processes", None) or {}
        return sorted(int(pid) for pid in procs)

    def stop(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
