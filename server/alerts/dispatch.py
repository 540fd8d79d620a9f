"""Delivery of alert updates: one worker per (hall, channel), retries with backoff, a log.

A channel that is down retries in its own worker thread, so the others are not delayed;
the engine only puts work on queues. Each attempt is written to the store's delivery log
and counted, per channel type and result, with its latency (:attr:`Dispatcher.attempt_count`,
:attr:`Dispatcher.attempt_latency`, read by the server's ``/metrics``; docs/server.md).
With an outbox (:mod:`server.alerts.outbox`) every notification is kept until a channel took
it or every attempt failed, and :meth:`Dispatcher.resume` sends what a stopped or killed
process left pending, or what :meth:`Dispatcher.keep` kept without sending (a worker whose
lease was not fresh; docs/alerts.md, "Restarts"; docs/distributed.md, "Workers").
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client import Counter, Histogram

from lobbywatch.backoff import Backoff
from lobbywatch.clock import Clock
from lobbywatch.config.notify import Channel
from lobbywatch.config.site import SiteConfig
from server.alerts.channels import ChannelError, Sender, default_senders
from server.alerts.model import AlertUpdate, Delivery
from server.alerts.outbox import KEEP_DONE, Outbox, Outcome
from server.alerts.store import AlertStore

log = logging.getLogger(__name__)

#: Upper bounds (seconds) of the notification latency buckets: queued to answered.
LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


@dataclass(frozen=True, slots=True)
class _Job:
    site: SiteConfig
    channel: Channel
    updates: tuple[AlertUpdate, ...]
    queued: float
    kept: int | None = None
    """Its id in the outbox."""


class _Worker:
    def __init__(self, owner: Dispatcher, name: str) -> None:
        self.owner = owner
        self.jobs: queue.Queue[_Job | None] = queue.Queue()
        self.busy = False
        self.thread = threading.Thread(target=self._run, name=f"alerts-{name}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            self.busy = True
            try:
                self.owner._deliver(job)
            except Exception:
                log.exception("alert delivery crashed on %s", job.channel.name)
            finally:
                self.busy = False
                self.jobs.task_done()


class Dispatcher:
    """Routes engine updates to channel workers. ``submit`` never blocks on a channel."""

    def __init__(
        self,
        *,
        clock: Clock,
        store: AlertStore | None = None,
        senders: dict[str, Sender] | None = None,
        attempts: int = 5,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        timeout_s: float = 5.0,
        on_delivery: Callable[[Delivery], None] | None = None,
        outbox: Outbox | None = None,
    ) -> None:
        self._clock = clock
        self._store = store
        self._outbox = outbox
        self._senders = senders if senders is not None else default_senders(clock)
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.timeout_s = timeout_s
        self._on_delivery = on_delivery
        self._workers: dict[tuple[str, str], _Worker] = {}
        self._lock = threading.Lock()
        self._resuming = threading.RLock()
        self._active: set[int] = set()  # outbox ids queued or being delivered here
        self._stop = threading.Event()
        # Owned here, unregistered: the server's metrics collector reads them at scrape time.
        self.attempt_count = Counter(
            "lobbywatch_server_notification_attempts",
            "Notification delivery attempts, per channel type and result (ok, failed).",
            ["channel_type", "result"],
            registry=None,
        )
        self.attempt_latency = Histogram(
            "lobbywatch_server_notification_latency_seconds",
            "Seconds from an update's queuing to the answer of each delivery attempt.",
            ["channel_type"],
            registry=None,
            buckets=LATENCY_BUCKETS_S,
        )

    def submit(self, site: SiteConfig, updates: Sequence[AlertUpdate]) -> None:
        """Queue ``updates`` for their channels: one grouped message per channel and hall."""
        for job in self.keep(site, updates):
            self._queue(job)

    def keep(self, site: SiteConfig, updates: Sequence[AlertUpdate]) -> list[_Job]:
        """Keep ``updates`` in the outbox (pending), one grouped notification per channel, without
        sending them: :meth:`submit` queues the jobs returned, :meth:`resume` sends them later."""
        channels = {c.name: c for c in site.notifications.channels}
        per_channel: dict[str, list[AlertUpdate]] = {}
        for u in updates:
            for name in u.sent_to:
                if name in channels:
                    per_channel.setdefault(name, []).append(u)
        now = time.monotonic()
        return [
            _Job(site, channels[name], tuple(batch), now, self._keep(site.site, name, batch))
            for name, batch in per_channel.items()
        ]

    def resume(self, sites: Mapping[str, SiteConfig], only: Collection[str] | None = None) -> int:
        """Queue again what the outbox holds pending (at start; ``only``: of these halls, the
        others left as they are), except what this dispatcher is delivering already; a
        notification whose hall or channel is no longer configured is given up; those done long
        ago are forgotten. Returns how many were queued."""
        if self._outbox is None:
            return 0
        try:
            self._outbox.prune(self._clock.now() - KEEP_DONE)
        except Exception:
            log.exception("could not prune the notification outbox")
        resumed = 0
        now = time.monotonic()
        with self._resuming:  # two resumes at once (a takeover, a release) queue each once
            for q in self._outbox.pending():
                if (only is not None and q.site not in only) or q.id in self._active:
                    continue
                site = sites.get(q.site)
                channel = (
                    next((c for c in site.notifications.channels if c.name == q.channel), None)
                    if site
                    else None
                )
                if site is None or channel is None:
                    self._finish(q.id, "failed", "its hall or channel is no longer configured")
                    continue
                self._queue(_Job(site, channel, q.updates, now, q.id))
                resumed += 1
        return resumed

    def _queue(self, job: _Job) -> None:
        if job.kept is not None:
            with self._resuming:
                self._active.add(job.kept)
        self._worker(job.site.site, job.channel.name).jobs.put(job)

    def _keep(self, site: str, channel: str, updates: Sequence[AlertUpdate]) -> int | None:
        if self._outbox is None:
            return None
        try:
            return self._outbox.queue(site, channel, updates, self._clock.now())
        except Exception:  # sent anyway, only not kept across a restart
            log.exception("could not keep the notification of %s to %s", site, channel)
            return None

    def _finish(self, kept: int | None, outcome: Outcome, error: str | None = None) -> None:
        if self._outbox is None or kept is None:
            return
        try:
            self._outbox.finish(kept, outcome, self._clock.now(), error)
        except Exception:
            log.exception("could not mark notification %d %s", kept, outcome)
        with self._resuming:  # after the mark: a resume finds it either here or done
            self._active.discard(kept)

    def _worker(self, site: str, channel: str) -> _Worker:
        with self._lock:
            worker = self._workers.get((site, channel))
            if worker is None:
                worker = self._workers[(site, channel)] = _Worker(self, f"{site}-{channel}")
            return worker

    def _deliver(self, job: _Job) -> None:
        sender = self._senders.get(job.channel.type)
        backoff = Backoff(self.backoff_s, self.max_backoff_s)
        for attempt in range(1, self.attempts + 1):
            error: str | None = None
            try:
                if sender is None:
                    raise ChannelError(f"no sender for channel type {job.channel.type}")
                sender.send(job.channel, job.site, job.updates, self.timeout_s)
            except ChannelError as exc:
                error = str(exc)
            except Exception as exc:  # a sender bug is a failed delivery, not a dead worker
                error = f"{type(exc).__name__}: {exc}"
            latency_s = time.monotonic() - job.queued
            self.attempt_count.labels(job.channel.type, "ok" if error is None else "failed").inc()
            self.attempt_latency.labels(job.channel.type).observe(latency_s)
            self._log(job, attempt, error, latency_s * 1000)
            if error is None:
                self._finish(job.kept, "sent")
                return
            log.warning("alert channel %s attempt %d failed: %s", job.channel.name, attempt, error)
            if attempt == self.attempts:
                self._finish(job.kept, "failed", error)
                return
            if self._stop.wait(backoff.next_delay()):
                return  # stopping: it stays pending in the outbox, for the next start

    def _log(self, job: _Job, attempt: int, error: str | None, latency_ms: float) -> None:
        at = self._clock.now()
        for u in job.updates:
            d = Delivery(
                u.alert.id, job.channel.name, str(u.event), attempt, error is None, at, latency_ms, error
            )
            if self._store is not None:
                try:
                    self._store.add_delivery(d)
                except Exception:
                    log.exception("could not log delivery of %s", u.alert.id)
            if self._on_delivery is not None:
                self._on_delivery(d)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once every queue is empty and no worker is sending (tests, benchmarks)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                workers = list(self._workers.values())
            if all(w.jobs.unfinished_tasks == 0 for w in workers):
                return True
            time.sleep(0.01)
        return False

    def close(self, timeout: float = 5.0) -> None:
        """Stop the workers (pending retries are abandoned here, kept in the outbox)."""
        self._stop.set()
        with self._lock:
            workers = list(self._workers.values())
        for w in workers:
            w.jobs.put(None)
        for w in workers:
            w.thread.join(timeout)
