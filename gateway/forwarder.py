"""From the outbox to the server's ingest endpoint (``lobbywatch.protocol.ingest``).

One batch at a time: the oldest messages of the outbox (up to ``batch_max``), events placed
ahead of samples (each class keeps its arrival order, so per-source order holds within a
class), gzip-compressed, with the gateway token and the outbox backlog. Messages leave the
outbox only once the server answered ``accepted`` or ``duplicate``; a ``rejected`` one goes
to quarantine. A batch the server could not read at all (400, 413, 422) is split in halves,
each sent on its own, until the message at fault is alone: that one is quarantined
(``server_rejected``, with the server's message), the others are delivered. Any other failure
(connection refused, timeout, 401/403, 415, 5xx, an unreadable answer) sends the same
messages again after an exponential backoff with jitter. Details: ``docs/gateway.md``.
"""

from __future__ import annotations

import gzip
import http.client
import json
import logging
import random
import ssl
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from gateway.outbox import GatewayOutbox, StoredMessage
from gateway.stats import Stats
from lobbywatch.backoff import Backoff
from lobbywatch.clock import Clock
from lobbywatch.protocol.ingest import INGEST_PATH, MAX_BATCH_BYTES, IngestResult

log = logging.getLogger("lobbywatch.gateway.forwarder")


#: Errors that mean a kept-alive connection had been closed by the server while idle.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)

#: Answers meaning the server could not read the batch itself: some message of it is at fault.
#: Not 415 (Content-Encoding refused, by a proxy say): no message causes it, and splitting
#: would quarantine every one of them; it is retried like a token problem.
UNREADABLE_BATCH = frozenset({400, 413, 422})


class SendError(RuntimeError):
    """The batch was not stored by the server (refused, timed out, non-200, bad answer)."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class BatchUnreadable(SendError):
    """The server answered one of :data:`UNREADABLE_BATCH`; ``detail`` is its message."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"server answered {status}: {detail}")
        self.status = status
        self.detail = detail


@dataclass(frozen=True, slots=True)
class ForwarderSettings:
    gateway_id: str
    site: str
    server_url: str
    token: str
    batch_max: int
    batch_age_s: float
    request_timeout_s: float
    retry_initial_s: float
    retry_max_s: float
    server_ca_file: Path | None = None


def order_batch(rows: list[StoredMessage]) -> list[StoredMessage]:
    """Events first, then samples; arrival order kept within each class."""
    return [r for r in rows if r.delivery == "event"] + [r for r in rows if r.delivery != "event"]


class Forwarder:
    """The sending thread."""

    def __init__(
        self,
        settings: ForwarderSettings,
        outbox: GatewayOutbox,
        stats: Stats,
        clock: Clock,
        rng: random.Random,
        backlog_json: Callable[[], str],
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.stats = stats
        self.clock = clock
        self.backoff = Backoff(settings.retry_initial_s, settings.retry_max_s, rng)
        self._backlog_json = backlog_json
        self._wake = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="gw-forwarder", daemon=True)
        self.url = settings.server_url.rstrip("/") + INGEST_PATH
        parsed = urllib.parse.urlsplit(self.url)
        self._tls = parsed.scheme == "https"
        self._host = parsed.hostname or "127.0.0.1"
        self._port = parsed.port
        self._path = parsed.path
        self._conn: http.client.HTTPConnection | None = None
        #: Messages per batch now: halved after a timed-out batch (a starved server cannot
        #: take a big one within the timeout, and resending it whole would never progress),
        #: doubled back towards ``batch_max`` after each delivered batch.
        self.batch_limit = settings.batch_max

    def _connection(self) -> http.client.HTTPConnection:
        """The kept-alive connection to the server (opened when needed)."""
        if self._conn is None:
            timeout = self.settings.request_timeout_s
            if self._tls:
                self._conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=timeout, context=self._tls_context()
                )
            else:
                self._conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
        return self._conn

    def _tls_context(self) -> ssl.SSLContext:
        ca = self.settings.server_ca_file
        return ssl.create_default_context(cafile=str(ca) if ca is not None else None)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def notify(self) -> None:
        """New messages were committed."""
        with self._wake:
            self._wake.notify()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.notify()
        self._thread.join(timeout=self.settings.request_timeout_s + 5)

    # ------------------------------------------------------------------ loop

    def _wait_for_batch(self) -> bool:
        """Wait until a batch is due (full, or its oldest message lingered batch_age_s)."""
        s = self.settings
        with self._wake:
            while not self._stop.is_set() and self.outbox.count == 0:
                self._wake.wait(1.0)
            deadline = self.clock.monotonic() + s.batch_age_s
            while not self._stop.is_set() and self.outbox.count < s.batch_max:
                left = deadline - self.clock.monotonic()
                if left <= 0:
                    break
                self._wake.wait(min(left, 0.05))
        return not self._stop.is_set()

    def _loop(self) -> None:
        pending: list[StoredMessage] = []
        try:
            while not self._stop.is_set():
                try:
                    pending = self._step(pending)
                except Exception:  # never die: keep the batch and try again later
                    log.exception("forwarding failed unexpectedly; retrying")
                    self.stats.last_send_error = "internal error (see the gateway log)"
                    self._stop.wait(self.backoff.next_delay())
        finally:
            self.outbox.release()
            self._close()

    def _step(self, pending: list[StoredMessage]) -> list[StoredMessage]:
        """Send one batch (a new one unless one is pending); return what is still pending."""
        if not pending:
            if not self._wait_for_batch():
                return []
            pending = order_batch(self.outbox.take(self.batch_limit, MAX_BATCH_BYTES // 2))
            if not pending:
                return []
        try:
            self._deliver(pending)
        except _Undelivered as undelivered:
            exc, pending = undelivered.error, undelivered.rest
            self.stats.add("retries")
            self.stats.last_send_error = str(exc)
            delay = self.backoff.next_delay()
            log.warning("batch of %d not delivered (%s); retry in %.2fs", len(pending), exc, delay)
            if exc.timed_out and len(pending) > 1:
                # Retry the oldest half: order is kept (take() starts from the oldest again),
                # and the server dedups whatever of the timed-out batch it did store.
                self.batch_limit = max(1, len(pending) // 2)
                self.outbox.release()
                self._stop.wait(delay)
                return []
            self._stop.wait(delay)
            return pending
        self.backoff.reset()
        self.batch_limit = min(self.settings.batch_max, self.batch_limit * 2)
        return []

    def _deliver(self, batch: list[StoredMessage]) -> None:
        """Send ``batch``, splitting it while the server cannot read it (see the module doc).

        Pieces go in order; a lone message the server cannot read is quarantined. Raises
        :class:`_Undelivered` with the messages not yet settled when a send fails otherwise.
        """
        pieces = [batch]
        while pieces:
            piece = pieces.pop(0)
            try:
                result = self._send(piece)
            except BatchUnreadable as exc:
                if len(piece) > 1:
                    half = len(piece) // 2
                    log.warning("server cannot read a batch of %d (%s); splitting it", len(piece), exc)
                    pieces[:0] = [piece[:half], piece[half:]]
                else:
                    log.warning("server cannot read message %s: %s", piece[0].msg_id, exc)
                    self.outbox.settle([], [(piece[0], f"HTTP {exc.status}: {exc.detail}")])
                    self.stats.forwarded_batch(0, 0, 1)
                continue
            except SendError as exc:
                raise _Undelivered(exc, [m for p in [piece, *pieces] for m in p]) from None
            self._settle(piece, result)

    def _settle(self, batch: list[StoredMessage], result: IngestResult) -> None:
        done: list[StoredMessage] = []
        rejected: list[tuple[StoredMessage, str]] = []
        accepted = duplicates = 0
        for msg, item in zip(batch, result.results, strict=True):
            if item.status == "rejected":
                rejected.append((msg, item.reason or "rejected by the server"))
                log.warning("server rejected message %s: %s", msg.msg_id, item.reason)
            else:
                done.append(msg)
                if item.status == "accepted":
                    accepted += 1
                else:
                    duplicates += 1
        self.outbox.settle(done, rejected)
        self.stats.forwarded_batch(accepted, duplicates, len(rejected))

    def _send(self, batch: list[StoredMessage]) -> IngestResult:
        s = self.settings
        head = json.dumps(
            {
                "gateway": s.gateway_id,
                "site": s.site,
                "sent_at": self.clock.now().isoformat().replace("+00:00", "Z"),
            }
        )[:-1]
        body = (
            head
            + ',"backlog":'
            + self._backlog_json()
            + ',"messages":['
            + ",".join(m.body for m in batch)
            + "]}"
        ).encode()
        headers = {
            "Authorization": f"Bearer {s.token}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        }
        data = gzip.compress(body, compresslevel=1)
        for attempt in (1, 2):
            reused = self._conn is not None
            try:
                conn = self._connection()
                conn.request("POST", self._path, body=data, headers=headers)
                response = conn.getresponse()
                status = response.status
                answer = response.read()
                if response.will_close:
                    self._close()
                break
            except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out
                self._close()
                stale = isinstance(exc, _STALE)
                if attempt == 1 and reused and stale:
                    continue  # the server had closed an idle kept-alive connection: try a new one
                raise SendError(
                    f"no answer from {self.url}: {exc!r}", timed_out=isinstance(exc, TimeoutError)
                ) from None
        if status in UNREADABLE_BATCH:
            raise BatchUnreadable(status, _server_message(answer))
        if status != 200:
            raise SendError(f"server answered {status}")
        try:
            result = IngestResult.model_validate_json(answer)
        except ValidationError as exc:
            raise SendError(f"unreadable answer: {exc.errors()[0]['msg']}") from None
        if len(result.results) != len(batch):
            raise SendError(f"answer holds {len(result.results)} results for {len(batch)} messages")
        return result


class _Undelivered(Exception):
    """A send failed for a reason splitting cannot help; ``rest`` was not settled, in order."""

    def __init__(self, error: SendError, rest: list[StoredMessage]) -> None:
        super().__init__(str(error))
        self.error = error
        self.rest = rest


def _server_message(answer: bytes) -> str:
    """The ``message`` of the server's error body, else the start of the body as text."""
    try:
        data = json.loads(answer)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"])
    return answer[:500].decode("utf-8", "replace") or "(no message)"
