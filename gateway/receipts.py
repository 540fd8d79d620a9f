"""What the gateway has committed of each source's stream: the state behind its receipts.

:class:`ReceiptBook` keeps, per (source, epoch), the highest ``seq`` up to which every
message is in the outbox (or its quarantine), holds the numbers seen above a gap until the
gap is filled, and says which receipts to publish after a commit (one per stream whose
number advanced, or that has a gap and may ask its source to send again). The committed
numbers live in the outbox database (table ``receipts``), so they survive a restart; they
are written after the outbox commit, so a receipt never runs ahead of the outbox.
Details: ``docs/gateway.md`` (receipts) and ``docs/protocol.md`` (delivery receipts).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("lobbywatch.gateway.receipts")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS receipts (
    source TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    committed INTEGER NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (source, epoch)
);
"""


@dataclass(frozen=True, slots=True)
class Position:
    """Where one committed message sits in its source's stream. ``live``: forwarded as it was
    published (not a retained copy the broker sent on subscribing, which says nothing about
    what came between)."""

    source: str
    epoch: int
    seq: int
    live: bool = True


@dataclass(frozen=True, slots=True)
class Standing:
    """One receipt to publish."""

    source: str
    epoch: int
    committed: int
    resend: bool


@dataclass(slots=True)
class _Stream:
    committed: int
    updated_at: float
    held: set[int] = field(default_factory=set)  # committed numbers above a gap
    gap_since: float | None = None
    asked_at: float | None = None  # when a resend was last asked for


class ReceiptBook:
    """Per-stream committed numbers (thread-safe). ``gap_timeout_s``: how long a gap is waited
    for before the gateway gives up on it (the source never sent those numbers, or lost
    them); ``resend_every_s``: how often a source with a gap is asked to send again."""

    def __init__(
        self,
        path: Path,
        *,
        gap_timeout_s: float = 120.0,
        resend_every_s: float = 5.0,
        max_held: int = 10_000,
    ) -> None:
        self.gap_timeout_s = gap_timeout_s
        self.resend_every_s = resend_every_s
        self.max_held = max_held
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        # A receipt lost with the OS only makes sources send again: NORMAL is enough.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._streams: dict[tuple[str, int], _Stream] = {
            (str(s), int(e)): _Stream(int(c), float(u))
            for s, e, c, u in self._db.execute("SELECT source, epoch, committed, updated_at FROM receipts")
        }

    def record(self, positions: Iterable[Position], now: float) -> list[Standing]:
        """Note messages just committed; return the receipts to publish now."""
        with self._lock:
            before: dict[tuple[str, int], int] = {}
            for p in positions:
                key = (p.source, p.epoch)
                stream = self._streams.get(key)
                if stream is None:
                    if not p.live:
                        continue  # an old retained copy: the stream starts with its next live message
                    # The first message of a stream this gateway never saw: what came before
                    # it predates this gateway (or was sent before the source saw receipts).
                    stream = self._streams[key] = _Stream(p.seq - 1, now)
                before.setdefault(key, stream.committed)
                if p.seq == stream.committed + 1:
                    stream.committed = p.seq
                    self._absorb(stream)
                elif p.seq > stream.committed and p.live:
                    stream.held.add(p.seq)
            out = [s for key, old in before.items() if (s := self._standing(key, old, now)) is not None]
            changed = [(s.source, s.epoch, s.committed, now) for s in out]
            if changed:
                self._db.executemany(
                    "INSERT INTO receipts (source, epoch, committed, updated_at) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT(source, epoch) DO UPDATE SET committed = excluded.committed,"
                    " updated_at = excluded.updated_at",
                    changed,
                )
            return out

    def _standing(self, key: tuple[str, int], old: int, now: float) -> Standing | None:
        stream = self._streams[key]
        if stream.held:
            if stream.gap_since is None:
                stream.gap_since = now
            elif now - stream.gap_since >= self.gap_timeout_s or len(stream.held) > self.max_held:
                first = min(stream.held)
                log.warning(
                    "source %s (epoch %d): seq %d..%d never arrived; receipts go past them",
                    key[0],
                    key[1],
                    stream.committed + 1,
                    first - 1,
                )
                stream.committed = first - 1
                self._absorb(stream)
                stream.gap_since = now if stream.held else None
        if not stream.held:
            stream.gap_since = None
        resend = bool(stream.held) and (
            stream.asked_at is None or now - stream.asked_at >= self.resend_every_s
        )
        if resend:
            stream.asked_at = now
        if stream.committed == old and not resend:
            return None
        stream.updated_at = now
        return Standing(key[0], key[1], stream.committed, resend)

    @staticmethod
    def _absorb(stream: _Stream) -> None:
        while stream.committed + 1 in stream.held:
            stream.committed += 1
            stream.held.discard(stream.committed)

    def current(self, *, resend: bool) -> list[Standing]:
        """The latest receipt of every source (its most recently updated epoch), to publish
        again after a connect; ``resend`` asks each source to send again what is not covered."""
        with self._lock:
            latest: dict[str, tuple[int, _Stream]] = {}
            for (source, epoch), stream in self._streams.items():
                seen = latest.get(source)
                if seen is None or stream.updated_at > seen[1].updated_at:
                    latest[source] = (epoch, stream)
            return [Standing(src, ep, st.committed, resend) for src, (ep, st) in sorted(latest.items())]

    def close(self) -> None:
        with self._lock:
            self._db.close()


__all__ = ["Position", "ReceiptBook", "Standing"]
