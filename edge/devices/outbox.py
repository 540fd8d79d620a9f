"""The device agent's durable outbox: every outgoing message, with its sequence number, on disk,
until the gateway's delivery receipt covers it (not the gateway's queue to the server: that
is :class:`gateway.outbox.GatewayOutbox`).

A message is numbered and written in one SQLite transaction (WAL mode, ``synchronous=FULL``),
so a number is never handed out twice nor lost, even if the process is killed. Until the
first receipt for this epoch arrives, a row is deleted when the broker acknowledges it (MQTT
PUBACK), as a kiosk without receipts does; from then on (a flag kept in the file) a PUBACK
only marks the row, and :meth:`DeviceOutbox.cover` deletes it once a receipt covers it. At
most ``max_kept`` acknowledged rows wait for a receipt; the oldest go beyond that. Rows are
sent again, lowest ``seq`` first, after a reconnect or a restart (``docs/device-agent.md``).

The epoch of the source's sequence is chosen when the state directory is first created and
kept there; wiping the directory starts a new epoch.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lobbywatch.protocol.codec import encode
from lobbywatch.protocol.messages import Envelope
from lobbywatch.protocol.topics import topic_for

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    retain INTEGER NOT NULL,
    acked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

#: Rows acknowledged by the broker kept for a receipt, at most (the oldest go beyond).
MAX_KEPT = 20_000


@dataclass(frozen=True, slots=True)
class Pending:
    """One message not yet covered by a receipt (or, without receipts, acknowledged)."""

    seq: int
    topic: str
    payload: bytes
    retain: bool


class DeviceOutbox:
    """Numbered, persistent queue of a device's messages not yet delivered (thread-safe)."""

    def __init__(
        self, path: Path, *, new_epoch: Callable[[], int] | None = None, max_kept: int = MAX_KEPT
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_kept = max_kept
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
        if "acked" not in columns:  # a file from before receipts
            self._db.execute("ALTER TABLE outbox ADD COLUMN acked INTEGER NOT NULL DEFAULT 0")
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            if self._get("epoch") is None:
                epoch = new_epoch() if new_epoch is not None else int(time.time())
                self._db.execute("INSERT INTO state VALUES ('epoch', ?), ('next_seq', 0)", (epoch,))
            self._db.execute("COMMIT")
            self._receipts = bool(self._get("receipts"))
            self._kept = int(self._db.execute("SELECT COUNT(*) FROM outbox WHERE acked = 1").fetchone()[0])

    def _get(self, key: str) -> int | None:
        row = self._db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else int(row[0])

    @property
    def epoch(self) -> int:
        with self._lock:
            value = self._get("epoch")
        assert value is not None
        return value

    @property
    def next_seq(self) -> int:
        """The number the next message will get."""
        with self._lock:
            value = self._get("next_seq")
        assert value is not None
        return value

    def append(self, build: Callable[[int], Envelope]) -> Envelope:
        """Number a message with ``build(seq)`` and store it, atomically; returns the message."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                seq = self._get("next_seq")
                assert seq is not None
                message = build(seq)
                self._db.execute(
                    "INSERT INTO outbox (seq, topic, payload, retain) VALUES (?, ?, ?, ?)",
                    (seq, topic_for(message), encode(message), int(message.RETAINED)),
                )
                self._db.execute("UPDATE state SET value = ? WHERE key = 'next_seq'", (seq + 1,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return message

    @property
    def keeps_until_receipt(self) -> bool:
        """True once a receipt for this epoch was seen: a PUBACK no longer deletes a row."""
        return self._receipts

    def pending(self, after: int = -1, limit: int = 100) -> list[Pending]:
        """Messages still kept with ``seq > after``, lowest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, topic, payload, retain FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, limit),
            ).fetchall()
        return [Pending(int(s), str(t), bytes(p), bool(r)) for s, t, p, r in rows]

    def ack(self, seq: int) -> None:
        """The broker has the message: forget it, or (after a receipt was seen) mark it and keep
        it for the receipt, dropping the oldest marked rows beyond ``max_kept``."""
        with self._lock:
            if not self._receipts:
                self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
                return
            self._kept += self._db.execute(
                "UPDATE outbox SET acked = 1 WHERE seq = ? AND acked = 0", (seq,)
            ).rowcount
            if self._kept > self.max_kept:
                excess = self._kept - self.max_kept
                self._db.execute(
                    "DELETE FROM outbox WHERE seq IN"
                    " (SELECT seq FROM outbox WHERE acked = 1 ORDER BY seq LIMIT ?)",
                    (excess,),
                )
                self._kept -= excess
                log.warning("no receipt for %d messages; dropped the oldest %d", self.max_kept, excess)

    def cover(self, seq: int) -> int:
        """A receipt says the gateway has everything up to ``seq`` of this epoch: delete it.
        The first call switches the outbox to keeping rows until a receipt. Returns how many
        rows went."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                acked = self._db.execute(
                    "SELECT COUNT(*) FROM outbox WHERE seq <= ? AND acked = 1", (seq,)
                ).fetchone()[0]
                gone = self._db.execute("DELETE FROM outbox WHERE seq <= ?", (seq,)).rowcount
                if not self._receipts:
                    self._db.execute("INSERT OR REPLACE INTO state VALUES ('receipts', 1)")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._receipts = True
            self._kept -= int(acked)
        return int(gone)

    def backlog(self) -> int:
        """Messages kept: not yet acknowledged, or acknowledged and waiting for a receipt."""
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        return int(row[0])

    def unacked(self) -> int:
        """Messages the broker has not acknowledged yet (on this or an earlier connection)."""
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) FROM outbox WHERE acked = 0").fetchone()
        return int(row[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


__all__ = ["DeviceOutbox", "Pending"]
