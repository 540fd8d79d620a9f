"""The InfluxDB writer: a durable spool in SQL, drained to ``/write`` by a background thread.

Ingest puts each batch's line protocol into the ``influx_spool`` table *in the same SQL
transaction* that accepts the messages, so anything answered "accepted" is either in
InfluxDB or still in the spool, whatever happens to influxd (or to this process). The
writer thread posts spooled lines in order, in chunks of ``batch_lines``, retries with
exponential back-off while InfluxDB is unreachable or failing, and deletes a spool row
only after InfluxDB answered 204. Because point times come from the source, a re-sent
chunk overwrites instead of duplicating. The spool also carries deletions of points superseded
since they were written (:meth:`InfluxWriter.spool_deletions`: InfluxQL ``DELETE`` statements,
run on ``/query``): one queue, run in spool order, a chunk of one kind at a time, so a
deletion spooled after a line never runs before it (re-running one after a crash deletes
nothing more). After a write it lingers (``linger_s``) unless a full chunk is already
waiting: under load, one larger write instead of one per ingest batch (each write costs the
server about as much CPU as a few hundred lines). When the spool holds more than
``max_spool_lines`` lines (and deletions), :attr:`InfluxWriter.overloaded` turns true and ingest answers
503 until it drains (back-pressure the gateways already handle). :class:`WriterStats` counts
lines and requests; :attr:`InfluxWriter.write_seconds` times each post (both read by the
server's ``/metrics``; docs/server.md). On the JetStream bus the stream's writers post a batch's
lines straight from the stream (:meth:`InfluxWriter.write_lines`, :mod:`server.bus_writers`); the
spool keeps what other parts derive (docs/distributed.md, "Roles").
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
from prometheus_client import Histogram
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from lobbywatch.backoff import Backoff
from lobbywatch.clock import Clock
from server.core.config import InfluxConfig
from server.storage.db import Database
from server.storage.models import InfluxSpool
from server.storage.repo import insert_spool

log = logging.getLogger(__name__)


@dataclass
class WriterStats:
    pending_lines: int = 0  # lines and deletions in the spool now
    written_lines: int = 0  # lines InfluxDB stored
    dropped_lines: int = 0  # lines (or deletions) InfluxDB refused for good (deleted from the spool, not run)
    write_requests: int = 0  # posts to /write, whatever their answer
    deletions: int = 0  # spooled DELETE statements InfluxDB ran
    failures: int = 0  # drain attempts that failed and will be retried (unreachable, 5xx, ...)
    last_error: str | None = None


WRITE = "write"
"""An ``influx_spool`` row of line protocol, for ``/write``."""
DELETE = "delete"
"""An ``influx_spool`` row of InfluxQL ``DELETE`` statements, one a line, for ``/query``."""

_DROPPED = re.compile(r"dropped=(\d+)")


def refused_lines(answer: str, sent: int) -> int:
    """How many of ``sent`` lines a 400 answer of InfluxDB refused.

    InfluxDB writes the points it can and names how many it dropped (``partial write: ...
    dropped=N``); without that count, none of them was written.

    >>> refused_lines('{"error":"partial write: field type conflict: ... dropped=2"}', 10)
    2
    >>> refused_lines('{"error":"unable to parse x: missing fields"}', 10)
    10
    """
    found = _DROPPED.search(answer)
    return min(sent, int(found.group(1))) if found else sent


class InfluxWriter:
    """Spool + background writer to the InfluxDB v1 ``/write`` endpoint."""

    def __init__(self, db: Database, cfg: InfluxConfig, clock: Clock) -> None:
        self._db = db
        self._cfg = cfg
        self._clock = clock
        self.stats = WriterStats()
        # Unregistered: the server's metrics collector reads it at scrape time.
        self.write_seconds = Histogram(
            "lobbywatch_server_influx_write_duration_seconds",
            "Seconds each post to InfluxDB /write took, whatever its answer.",
            registry=None,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
        )
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._flushing = threading.Event()  # set while someone waits in flush(): no lingering
        self._lock = threading.Lock()
        self._drained = threading.Condition(self._lock)  # notified when pending_lines drops
        self._thread: threading.Thread | None = None
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        token = cfg.resolved_token()
        if token:
            headers["Authorization"] = f"Token {token}"
        self._client = httpx.Client(base_url=cfg.url, timeout=cfg.timeout_s, headers=headers)
        self._database_ready = False
        self._healthy = True

    # ------------------------------------------------------------------ spooling

    def spool(self, session: Session, lines: list[str]) -> int:
        """Add lines to the spool inside the caller's transaction; call :meth:`spooled` after commit."""
        if not lines:
            return 0
        insert_spool(session, self._clock.now(), len(lines), "\n".join(lines))
        return len(lines)

    def spool_deletions(self, session: Session, statements: list[str]) -> int:
        """Add InfluxQL ``DELETE`` statements to the spool inside the caller's transaction, after
        what it spooled so far (they run after those lines were written); call
        :meth:`spooled` after commit."""
        if not statements:
            return 0
        row = {"created_at": self._clock.now(), "n_lines": len(statements), "body": "\n".join(statements)}
        session.execute(insert(InfluxSpool).values(kind=DELETE, **row))
        return len(statements)

    def spooled(self, n: int) -> None:
        """Tell the writer that ``n`` lines (or deletions) were committed to the spool."""
        if n:
            with self._lock:
                self.stats.pending_lines += n
            self._wake.set()

    def enqueue(self, lines: list[str]) -> None:
        """Spool lines in a transaction of their own (for other components: the alert engine)."""
        with self._db.session() as session:
            n = self.spool(session, lines)
        self.spooled(n)

    @property
    def overloaded(self) -> bool:
        return self.stats.pending_lines > self._cfg.max_spool_lines

    # ------------------------------------------------------------------ thread

    def start(self) -> None:
        with self._db.session() as session:
            pending = session.scalar(select(func.coalesce(func.sum(InfluxSpool.n_lines), 0)))
        self.stats.pending_lines = int(pending or 0)
        if not self._cfg.enabled:
            return
        self._thread = threading.Thread(target=self._run, name="influx-writer", daemon=True)
        self._thread.start()

    def stop(self, drain_timeout: float = 5.0) -> None:
        if self._thread is not None:
            if self._healthy:  # no point waiting on an InfluxDB that is down: the spool keeps it
                self.flush(drain_timeout)
            self._stop.set()
            self._flushing.set()
            self._wake.set()
            self._thread.join(timeout=30)
            self._thread = None
        self._client.close()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until the spool is empty (writing without lingering); False when ``timeout`` passed first."""
        self._flushing.set()
        self._wake.set()
        try:
            with self._drained:
                return self._drained.wait_for(lambda: self.stats.pending_lines == 0, timeout)
        finally:
            self._flushing.clear()

    def _run(self) -> None:
        backoff = Backoff(0.2, self._cfg.max_retry_s)
        delay = 0.0
        while not self._stop.is_set():
            if delay:
                self._stop.wait(delay)
                if self._stop.is_set():
                    return
            try:
                did = self.drain_once()
            except Exception as exc:  # a daemon never dies: count, log, retry
                self.stats.failures += 1
                self.stats.last_error = str(exc)
                self._healthy = False
                log.warning("influx write failed: %s", exc)
                delay = backoff.next_delay()
                continue
            backoff.reset()
            delay = 0.0
            self._healthy = True
            if not did:
                self._wake.wait(self._cfg.flush_interval_s)
                self._wake.clear()
            elif self.stats.pending_lines < self._cfg.batch_lines and not self._flushing.is_set():
                # Linger: under load, one larger write instead of one per ingest batch.
                self._flushing.wait(self._cfg.linger_s)

    def _ensure_database(self) -> None:
        if self._database_ready or not self._cfg.create_database:
            return
        resp = self._client.post("/query", params={"q": f'CREATE DATABASE "{self._cfg.database}"'})
        if resp.status_code >= 500:
            raise RuntimeError(f"CREATE DATABASE failed: HTTP {resp.status_code}")
        if resp.status_code != 200:  # e.g. 2.x without rights to create: the bucket must exist
            log.warning("CREATE DATABASE answered HTTP %d: %s", resp.status_code, resp.text[:200])
        self._database_ready = True

    def drain_once(self) -> bool:
        """Write (or delete) one chunk of the spool: its oldest rows of one kind, in id order;
        True when something was done (or dropped), False when the spool is empty.

        The chunk is chosen without a lock (:meth:`_oldest_chunk`), then exactly its rows are
        locked (``FOR UPDATE`` on PostgreSQL) and read, and stay locked until they are deleted
        after InfluxDB's answer; when another writer drained some of them meanwhile, the chunk
        is chosen again. Every writer's chunk starts at the oldest row, so the writer processes
        of the JetStream bus wait on the rows being posted and drain one after another: a
        deletion (spooled after its line, so in a later chunk) never runs before the line it
        removes, and a line is never posted again after its deletion (a deleted row is missing
        from the locked read)."""
        while True:
            with self._db.session() as session:
                chunk = self._oldest_chunk(session)
                if chunk is None:
                    return False
                kind, ids, total = chunk
                rows = session.execute(
                    select(InfluxSpool.id, InfluxSpool.body)
                    .where(InfluxSpool.id.in_(ids))
                    .order_by(InfluxSpool.id)
                    .with_for_update()
                ).all()
                if [row.id for row in rows] != ids:
                    continue  # another writer drained some of them: choose again (these locks end here)
                bodies = [row.body for row in rows]
                if kind == DELETE:
                    self._delete(";".join("\n".join(bodies).split("\n")), total)
                else:
                    self._post("\n".join(bodies).encode(), total)
                session.execute(delete(InfluxSpool).where(InfluxSpool.id.in_(ids)))
            with self._drained:
                self.stats.pending_lines -= total
                self._drained.notify_all()
            return True

    def _oldest_chunk(self, session: Session) -> tuple[str, list[int], int] | None:
        """The spool's oldest rows of one kind, up to ``batch_lines`` lines (at least one row),
        read without a lock: ``(kind, ids, lines)``; None when the spool is empty."""
        sizes = session.execute(
            select(InfluxSpool.id, InfluxSpool.n_lines, InfluxSpool.kind).order_by(InfluxSpool.id).limit(256)
        ).all()
        if not sizes:
            return None
        kind = sizes[0].kind
        ids: list[int] = []
        total = 0
        for row in sizes:
            if ids and (row.kind != kind or total + row.n_lines > self._cfg.batch_lines):
                break
            ids.append(row.id)
            total += row.n_lines
        return kind, ids, total

    def write_lines(self, lines: list[str]) -> None:
        """Post ``lines`` to InfluxDB now, in chunks of ``batch_lines``, bypassing the spool (the
        stream's writers: the stream keeps the batch until this returns; docs/distributed.md).
        Raises while InfluxDB is unreachable or failing; lines it refuses for good are counted."""
        step = self._cfg.batch_lines
        for start in range(0, len(lines), step):
            chunk = lines[start : start + step]
            self._post("\n".join(chunk).encode(), len(chunk))

    def _post(self, body: bytes, total: int) -> None:
        """One post of ``total`` lines to ``/write``; raises unless InfluxDB took them (204) or
        refused some for good (400: counted as dropped, the rest as written)."""
        self._ensure_database()
        params: dict[str, str] = {"db": self._cfg.database, "precision": "ns"}
        started = time.perf_counter()
        try:
            resp = self._client.post("/write", params=params, content=body)
        finally:
            self.write_seconds.observe(time.perf_counter() - started)
        self.stats.write_requests += 1
        if resp.status_code == 404 and "database not found" in resp.text:
            self._database_ready = False
            raise RuntimeError("database not found")
        if resp.status_code == 400:
            # Points InfluxDB will never take (e.g. a field type conflict): retrying cannot help.
            # It wrote the others of the chunk (a partial write).
            dropped = refused_lines(resp.text, total)
            log.error("influx refused %d of %d lines: %s", dropped, total, resp.text[:500])
            self.stats.dropped_lines += dropped
            self.stats.written_lines += total - dropped
        elif resp.status_code != 204:
            raise RuntimeError(f"HTTP {resp.status_code}: {resp.text[:200]}")
        else:
            self.stats.written_lines += total

    def _delete(self, statements: str, total: int) -> None:
        """Run ``total`` ``;``-separated ``DELETE`` statements on ``/query``; raises while
        InfluxDB is unreachable or failing (5xx, its database missing). A statement it refuses
        (400, or an error in its answer) is refused for good: counted as dropped and logged,
        so that one deletion never holds up every write behind it."""
        self._ensure_database()
        resp = self._client.post(
            "/query",
            params={"db": self._cfg.database},
            content=urlencode({"q": statements}).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        if resp.status_code == 400:
            log.error("influx refused %d deletions: %s", total, resp.text[:500])
            self.stats.dropped_lines += total
            return
        if resp.status_code != 200:
            raise RuntimeError(f"HTTP {resp.status_code}: {resp.text[:200]}")
        errors = [str(r["error"]) for r in resp.json().get("results", []) if "error" in r]
        if any("database not found" in e for e in errors):
            self._database_ready = False
            raise RuntimeError("database not found")
        if errors:
            log.error("influx refused %d of %d deletions: %s", len(errors), total, errors[0][:500])
        self.stats.dropped_lines += len(errors)
        self.stats.deletions += total - len(errors)
