"""The gateway's durable store-and-forward queue to the central server (SQLite, WAL).

:class:`GatewayOutbox` keeps the validated messages waiting for the server (``outbox``), the
quarantined ones (``quarantine``) and totals that survive a restart (``counters``); it
commits a group of messages at once and sheds the oldest samples (never events, never those
being sent) over its size cap. Not the device agent's outbox
(:class:`edge.devices.outbox.DeviceOutbox`). Details: ``docs/gateway.md``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Delivery = Literal["event", "sample"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    msg_id TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    delivery TEXT NOT NULL CHECK (delivery IN ('event', 'sample')),
    received_at REAL NOT NULL,
    size INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_samples ON outbox (seq) WHERE delivery = 'sample';
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY,
    received_at REAL NOT NULL,
    stage TEXT NOT NULL,
    topic TEXT,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    size INTEGER NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""

#: Bytes of a quarantined payload kept for inspection (the full size is recorded).
QUARANTINE_KEEP_BYTES = 4096
#: Counter name prefix of the per-reason quarantine totals (``quarantined.<reason>``).
_REASON_PREFIX = "quarantined."
#: Quarantine rows kept; the oldest are deleted beyond this (the counter keeps counting).
QUARANTINE_KEEP_ROWS = 10_000


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A validated message ready to be stored."""

    msg_id: str
    source: str
    delivery: Delivery
    received_at: float
    body: str


@dataclass(frozen=True, slots=True)
class Quarantined:
    """An invalid message, with why."""

    received_at: float
    topic: str | None
    reason: str
    detail: str
    payload: bytes
    stage: Literal["gateway", "server"] = "gateway"


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message read back from the outbox for sending."""

    seq: int
    msg_id: str
    source: str
    delivery: Delivery
    received_at: float
    size: int
    body: str


@dataclass(frozen=True, slots=True)
class BacklogState:
    count: int
    bytes: int
    oldest_received_at: float | None
    shed: int
    quarantined: int
    #: Quarantined messages per reason (``not_json``, ``schema``, ``server_rejected``, ...).
    quarantined_by_reason: dict[str, int]


@dataclass(frozen=True, slots=True)
class StoreResult:
    stored: int
    duplicates: int
    shed: int


class GatewayOutbox:
    """The gateway's outbox database. Thread-safe: one connection behind a lock."""

    def __init__(self, path: Path, max_bytes: int, *, synchronous: str = "FULL") -> None:
        self.path = path
        self.max_bytes = max_bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.executescript(_SCHEMA)
        row = self._db.execute("SELECT count(*), coalesce(sum(size), 0) FROM outbox").fetchone()
        self._count = int(row[0])
        self._bytes = int(row[1])
        self._counters = dict(self._db.execute("SELECT name, value FROM counters").fetchall())
        self._inflight: set[int] = set()

    # ------------------------------------------------------------------ writing

    def store(self, messages: Sequence[NewMessage], quarantined: Sequence[Quarantined] = ()) -> StoreResult:
        """Commit ``messages`` and ``quarantined`` durably in one transaction; shed if over the cap.

        A message whose id is already in the outbox is skipped (counted as a duplicate).
        """
        rows = [
            (m.msg_id, m.source, m.delivery, m.received_at, len(m.body.encode()), m.body) for m in messages
        ]
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                before = db.total_changes
                db.executemany(
                    "INSERT OR IGNORE INTO outbox (msg_id, source, delivery, received_at, size, body)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    rows,
                )
                stored = db.total_changes - before
                if stored == len(rows):
                    added_bytes = sum(r[4] for r in rows)
                else:  # some were already waiting (redelivered): count what is there now
                    total = db.execute("SELECT coalesce(sum(size), 0) FROM outbox").fetchone()[0]
                    added_bytes = int(total) - self._bytes
                if quarantined:
                    self._insert_quarantine(quarantined)
                shed_n, shed_bytes = self._shed(self._bytes + added_bytes)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._count += stored - shed_n
            self._bytes += added_bytes - shed_bytes
            return StoreResult(stored=stored, duplicates=len(messages) - stored, shed=shed_n)

    def quarantine(self, items: Sequence[Quarantined]) -> None:
        """Record invalid messages (committed at once)."""
        if not items:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._insert_quarantine(items)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _insert_quarantine(self, items: Iterable[Quarantined]) -> None:
        n = 0
        by_reason: dict[str, int] = {}
        for q in items:
            self._db.execute(
                "INSERT INTO quarantine (received_at, stage, topic, reason, detail, size, payload)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    q.received_at,
                    q.stage,
                    q.topic,
                    q.reason,
                    q.detail[:2000],
                    len(q.payload),
                    q.payload[:QUARANTINE_KEEP_BYTES],
                ),
            )
            n += 1
            by_reason[q.reason] = by_reason.get(q.reason, 0) + 1
        self._bump("quarantined", n)
        for reason, count in by_reason.items():
            self._bump(_REASON_PREFIX + reason, count)
        self._db.execute(
            "DELETE FROM quarantine WHERE id <= (SELECT max(id) FROM quarantine) - ?",
            (QUARANTINE_KEEP_ROWS,),
        )

    def _bump(self, name: str, by: int) -> None:
        if by == 0:
            return
        self._db.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?)"
            " ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
            (name, by),
        )
        self._counters[name] = self._counters.get(name, 0) + by

    def _shed(self, total_bytes: int) -> tuple[int, int]:
        """Delete the oldest samples (not in flight) until ``total_bytes`` fits the cap."""
        excess = total_bytes - self.max_bytes
        if excess <= 0:
            return 0, 0
        victims: list[int] = []
        freed = 0
        after = -1
        while freed < excess:
            rows = self._db.execute(
                "SELECT seq, size FROM outbox WHERE delivery = 'sample' AND seq > ? ORDER BY seq LIMIT 500",
                (after,),
            ).fetchall()
            if not rows:
                break  # only events (or in-flight samples) left: never shed those
            for seq, size in rows:
                after = seq
                if seq in self._inflight:
                    continue
                victims.append(seq)
                freed += size
                if freed >= excess:
                    break
        if victims:
            self._db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in victims])
            self._bump("shed", len(victims))
        return len(victims), freed

    # ------------------------------------------------------------------ sending

    def take(self, limit: int, max_bytes: int) -> list[StoredMessage]:
        """The oldest messages (at most ``limit`` and about ``max_bytes``), marked in flight."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, msg_id, source, delivery, received_at, size, body FROM outbox"
                " ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
            out: list[StoredMessage] = []
            total = 0
            for row in rows:
                msg = StoredMessage(*row)
                if out and total + msg.size > max_bytes:
                    break
                total += msg.size
                out.append(msg)
            self._inflight = {m.seq for m in out}
            return out

    def settle(self, done: Sequence[StoredMessage], rejected: Sequence[tuple[StoredMessage, str]]) -> None:
        """After the server answered: delete ``done`` (accepted or duplicate) and quarantine
        ``rejected`` (with the server's reason), in one commit. Messages taken but not settled
        here (the rest of a batch being split, see the forwarder) stay in flight."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                # Rows in flight are never shed, so every row of the batch is still there.
                gone = [m.seq for m in done] + [m.seq for m, _ in rejected]
                cur = db.execute(
                    "DELETE FROM outbox WHERE seq IN (SELECT value FROM json_each(?))",
                    (json.dumps(gone),),
                )
                removed = cur.rowcount
                removed_bytes = sum(m.size for m in done) + sum(m.size for m, _ in rejected)
                if rejected:
                    self._insert_quarantine(
                        Quarantined(
                            received_at=m.received_at,
                            topic=None,
                            reason="server_rejected",
                            detail=reason,
                            payload=m.body.encode(),
                            stage="server",
                        )
                        for m, reason in rejected
                    )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._count -= removed
            self._bytes -= removed_bytes
            self._inflight.difference_update(gone)

    def release(self) -> None:
        """Nothing is in flight any more (the send failed; it will be retried)."""
        with self._lock:
            self._inflight = set()

    # ------------------------------------------------------------------ reading

    def backlog(self) -> BacklogState:
        with self._lock:
            row = self._db.execute("SELECT received_at FROM outbox ORDER BY seq LIMIT 1").fetchone()
            return BacklogState(
                count=self._count,
                bytes=self._bytes,
                oldest_received_at=None if row is None else float(row[0]),
                shed=self._counters.get("shed", 0),
                quarantined=self._counters.get("quarantined", 0),
                quarantined_by_reason={
                    name.removeprefix(_REASON_PREFIX): value
                    for name, value in sorted(self._counters.items())
                    if name.startswith(_REASON_PREFIX)
                },
            )

    @property
    def count(self) -> int:
        return self._count

    def quarantine_rows(self) -> list[tuple[str, str | None, str, str]]:
        """(stage, topic, reason, detail) of every quarantined message kept, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT stage, topic, reason, detail FROM quarantine ORDER BY id"
            ).fetchall()
        return [(str(a), b, str(c), str(d)) for a, b, c, d in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
