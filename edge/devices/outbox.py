"""The device agent's durable outbox: every outgoing message, with its sequence number, on disk,
until the hall broker acknowledges it (not the gateway's queue to the server: that is
:class:`gateway.outbox.GatewayOutbox`).

A message is numbered and written in one SQLite transaction (WAL mode, ``synchronous=FULL``),
so a number is never handed out twice nor lost, even if the process is killed. Rows are
deleted only when the broker acknowledges them (MQTT PUBACK), and are sent again, lowest
``seq`` first, after a reconnect or a restart.

The epoch of the source's sequence is chosen when the state directory is first created and
kept there; wiping the directory starts a new epoch.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lobbywatch.protocol.codec import encode
from lobbywatch.protocol.messages import Envelope
from lobbywatch.protocol.topics import topic_for

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    retain INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class Pending:
    """One message waiting for the broker's acknowledgement."""

    seq: int
    topic: str
    payload: bytes
    retain: bool


class DeviceOutbox:
    """Numbered, persistent queue of a device's messages not yet acknowledged by the broker
    (thread-safe)."""

    def __init__(self, path: Path, *, new_epoch: Callable[[], int] | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            if self._get("epoch") is None:
                epoch = new_epoch() if new_epoch is not None else int(time.time())
                self._db.execute("INSERT INTO state VALUES ('epoch', ?), ('next_seq', 0)", (epoch,))
            self._db.execute("COMMIT")

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
                    "INSERT INTO outbox VALUES (?, ?, ?, ?)",
                    (seq, topic_for(message), encode(message), int(message.RETAINED)),
                )
                self._db.execute("UPDATE state SET value = ? WHERE key = 'next_seq'", (seq + 1,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return message

    def pending(self, after: int = -1, limit: int = 100) -> list[Pending]:
        """Unacknowledged messages with ``seq > after``, lowest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, topic, payload, retain FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, limit),
            ).fetchall()
        return [Pending(int(s), str(t), bytes(p), bool(r)) for s, t, p, r in rows]

    def ack(self, seq: int) -> None:
        """The broker has the message: forget it."""
        with self._lock:
            self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))

    def backlog(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        return int(row[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


__all__ = ["DeviceOutbox", "Pending"]
