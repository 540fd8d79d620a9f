"""Sequence numbers: stamping outgoing messages, and judging incoming ones.

A source numbers its messages 0, 1, 2, ... within an *epoch*. Downstream, a
:class:`SequenceTracker` tells for each message whether it is the next one, a duplicate,
late (it fills an earlier gap), or whether messages were skipped (a gap).

>>> t = SequenceTracker()
>>> [t.observe(("h1", "k1", 0), s).verdict.value for s in (1, 2, 4, 3, 4, 0)]
['ok', 'ok', 'gap', 'late', 'duplicate', 'late']
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from lobbywatch.clock import Clock
from lobbywatch.protocol.codec import new_message_id
from lobbywatch.protocol.messages import Envelope

M = TypeVar("M", bound=Envelope)


class Verdict(StrEnum):
    OK = "ok"  # the next number, or the first seen for this stream
    GAP = "gap"  # accepted, but numbers were skipped before it
    LATE = "late"  # accepted: fills part of an earlier gap (reordering)
    DUPLICATE = "duplicate"  # seen before: drop


@dataclass(frozen=True, slots=True)
class Observation:
    verdict: Verdict
    missing: int = 0  # for GAP: how many numbers were skipped


_OK = Observation(Verdict.OK)  # frozen: one instance serves every in-order message
_LATE = Observation(Verdict.LATE)
_DUPLICATE = Observation(Verdict.DUPLICATE)


@dataclass(slots=True)
class _Stream:
    lowest: int
    highest: int
    holes: list[tuple[int, int]] = field(default_factory=list)  # inclusive ranges not yet seen


class SequenceTracker:
    """Tracks (stream key, seq) pairs, remembering gaps so late arrivals are not duplicates.

    Memory per stream is bounded by ``max_holes`` open gap ranges; the oldest are forgotten
    (and counted as lost for good) beyond that.
    """

    def __init__(self, max_holes: int = 256) -> None:
        self._streams: dict[Hashable, _Stream] = {}
        self._max_holes = max_holes
        self.gaps = 0
        self.missing = 0
        self.duplicates = 0

    def observe(self, key: Hashable, seq: int) -> Observation:
        stream = self._streams.get(key)
        if stream is None:
            self._streams[key] = _Stream(lowest=seq, highest=seq)
            return _OK
        if seq < stream.lowest:
            # Older than anything seen (reordering around the first message): the stream
            # began earlier than we thought, and the numbers between are missing for now.
            if seq < stream.lowest - 1:
                stream.holes.insert(0, (seq + 1, stream.lowest - 1))
                self.missing += stream.lowest - 1 - seq
            stream.lowest = seq
            return _LATE
        if seq == stream.highest + 1:
            stream.highest = seq
            return _OK
        if seq > stream.highest:
            missing = seq - stream.highest - 1
            stream.holes.append((stream.highest + 1, seq - 1))
            if len(stream.holes) > self._max_holes:
                stream.holes.pop(0)
            stream.highest = seq
            self.gaps += 1
            self.missing += missing
            return Observation(Verdict.GAP, missing)
        for i, (lo, hi) in enumerate(stream.holes):
            if lo <= seq <= hi:
                parts = [(lo, seq - 1)] if lo < seq else []
                if seq < hi:
                    parts.append((seq + 1, hi))
                stream.holes[i : i + 1] = parts
                self.missing -= 1
                return _LATE
        self.duplicates += 1
        return _DUPLICATE

    def highest(self, key: Hashable) -> int | None:
        stream = self._streams.get(key)
        return None if stream is None else stream.highest

    def open_gaps(self, key: Hashable) -> list[tuple[int, int]]:
        stream = self._streams.get(key)
        return [] if stream is None else list(stream.holes)


def stream_key(message: Envelope) -> tuple[str, str, int]:
    """The key sequence continuity is judged on: (site, source, epoch)."""
    return (message.site, message.source, message.epoch)


class Stamper:
    """Fills the envelope (version, id, site, source, epoch, seq, ts) of outgoing messages.

    ``on_seq`` is called with each number handed out, so a source that must continue its
    sequence across restarts can persist it (the device agent does).

    >>> from lobbywatch.clock import FixedClock
    >>> from lobbywatch.protocol.messages import DeviceHeartbeat
    >>> s = Stamper("h1", "k1", clock=FixedClock.at("2026-11-23T09:00:00Z"))
    >>> s.make(DeviceHeartbeat, uptime_s=1, interval_s=30).seq, s.next_seq
    (0, 1)
    """

    def __init__(
        self,
        site: str,
        source: str,
        *,
        clock: Clock,
        epoch: int = 0,
        next_seq: int = 0,
        on_seq: Callable[[int], None] | None = None,
    ) -> None:
        self.site = site
        self.source = source
        self.epoch = epoch
        self.next_seq = next_seq
        self._clock = clock
        self._on_seq = on_seq

    def make(self, cls: type[M], *, seq: int | None = None, **fields: Any) -> M:
        """Build a ``cls`` message with the next sequence number (or ``seq`` for a will)."""
        if seq is None:
            seq = self.next_seq
            self.next_seq += 1
            if self._on_seq is not None:
                self._on_seq(seq)
        return cls(
            v=1,
            id=new_message_id(),
            site=self.site,
            source=self.source,
            epoch=self.epoch,
            seq=seq,
            ts=self._clock.now(),
            **fields,
        )
