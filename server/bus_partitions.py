"""Per-partition ownership on JetStream: which worker process consumes which partitions.

Every partition ``p`` has a lease ``<consumer>.<p>`` (:class:`server.bus_lease.Lease`), a
snapshot ``<consumer>.<p>`` in the ``<stream>_SNAPSHOTS`` bucket, and a durable consumer of
its current owner's, ``<consumer>-<p>-<id>``, filtered on ``<prefix>.batch.<p>.>``. Each
worker keeps a membership key ``members.<consumer>.<holder>`` alive in the lease bucket and
holds up to its fair share,
``ceil(partitions / live workers)``: it takes free partitions up to it and gives back those
over it, so two workers split 16 partitions 8/8 and a dead worker's are taken when its leases
expire. Taking a partition: load its snapshot (the stream sequence it covers, the previous owner's
consumer), replace that consumer with one reading from just after the snapshot, and hand the
batches the previous owner had acknowledged to the :class:`PartitionHooks` as a replay before
the live ones. See docs/distributed.md, "Workers".
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, KeyValueConfig
from nats.js.kv import KeyValue

from lobbywatch.protocol.messages import Envelope
from server.bus import IngestContext
from server.bus_lease import Lease
from server.core.config import BusConfig

log = logging.getLogger(__name__)

FETCH_BATCH = 64  # stored batches per fetch and partition
FETCH_WAIT_S = 0.5  # longest wait of one round of fetches (all held partitions at once)
SNAPSHOT_EVERY_S = 5.0  # a partition's state is snapshotted at most this often while it changes

Batch = tuple[list[Envelope], IngestContext]


class PartitionHooks(Protocol):
    """What the worker does when it gains or loses a partition (the alert service)."""

    def take(self, partition: int, snapshot: bytes | None, replay: Sequence[Batch]) -> None:
        """Start evaluating ``partition``: its state from ``snapshot`` (None: none kept), then
        ``replay`` (batches the previous owner already handled: no side effects)."""
        ...

    def snapshot(self, partition: int) -> bytes | None:
        """The partition's state now (None: nothing worth keeping)."""
        ...

    def drop(self, partition: int) -> None:
        """Stop evaluating ``partition`` (another worker has it, or this one stops)."""
        ...


class NoHooks:
    """Plain subscribers: nothing to restore or keep."""

    def take(self, partition: int, snapshot: bytes | None, replay: Sequence[Batch]) -> None:
        return None

    def snapshot(self, partition: int) -> bytes | None:
        return None

    def drop(self, partition: int) -> None:
        return None


@dataclass
class Held:
    """A partition this process holds."""

    partition: int
    lease: Lease
    sub: JetStreamContext.PullSubscription
    consumer: str  # its durable consumer's name
    failing_since: float | None = None  # fetches have failed since (its consumer's node died)
    seq: int = 0  # the last stream sequence delivered
    delivery: int = 0  # the consumer's sequence of that delivery (a gap: a fetch was lost)
    snapshot_seq: int = 0  # the sequence the last snapshot covers
    snapshot_at: float = field(default_factory=time.monotonic)


@dataclass
class Taken:
    """What taking a partition found: its snapshot, the batches to replay, the first live ones."""

    held: Held
    snapshot: bytes | None
    replay: list[Msg]
    live: list[Msg]


@dataclass(frozen=True)
class Snapshot:
    """A partition's KV entry: the stream sequence its state covers, the consumer its owner
    reads through (so the next owner finds its acknowledgement floor), the state (None: none)."""

    seq: int
    consumer: str
    state: bytes | None

    def encode(self) -> bytes:
        header = json.dumps({"seq": self.seq, "consumer": self.consumer}).encode()
        return header + b"\n" + (b"" if self.state is None else zlib.compress(self.state))

    @classmethod
    def decode(cls, value: bytes) -> Snapshot:
        header, _, body = value.partition(b"\n")
        meta = json.loads(header)
        return cls(int(meta["seq"]), str(meta["consumer"]), zlib.decompress(body) if body else None)


async def bucket(js: JetStreamContext, cfg: KeyValueConfig) -> KeyValue:
    """The KV bucket, created with ``cfg`` if missing."""
    try:
        return await js.key_value(cfg.bucket)
    except nats.js.errors.BucketNotFoundError:
        return await js.create_key_value(cfg)


class Partitions:
    """The partitions one worker process holds, on the bus's event loop (every coroutine
    here runs there); :class:`server.bus_jetstream.JetStreamBus` drives it from its consumer
    thread."""

    def __init__(
        self, cfg: BusConfig, js: JetStreamContext, leases: KeyValue, snapshots: KeyValue, holder: str
    ) -> None:
        self.cfg = cfg
        self.js = js
        self.leases = leases
        self.snapshots = snapshots
        self.holder = holder
        self.held: dict[int, Held] = {}
        self.members = 1
        self._offset = zlib.crc32(holder.encode()) % cfg.partitions  # where this worker starts looking

    def fair_share(self) -> int:
        return math.ceil(self.cfg.partitions / max(1, self.members))

    def holds(self, partition: int) -> bool:
        """Whether this process holds ``partition`` and its lease is fresh (fencing side effects)."""
        held = self.held.get(partition)
        return held is not None and held.lease.fresh()

    # ------------------------------------------------------------------ membership, leases

    async def heartbeat(self) -> None:
        """Say this worker is alive; count the live ones: the member keys that have a value in
        the bucket's stream (each expires after the lease TTL; one API request, no watcher)."""
        await self.leases.put(self.member_key, b"")
        info = await self.js.stream_info(self.leases_stream, subjects_filter=self.member_subject(">"))
        self.members = max(1, len(info.state.subjects or {}))

    @property
    def member_key(self) -> str:
        return f"members.{self.cfg.consumer}.{self.holder}"

    @property
    def leases_stream(self) -> str:
        return f"KV_{self.cfg.stream}_LEASES"

    def member_subject(self, holder: str) -> str:
        return f"$KV.{self.cfg.stream}_LEASES.members.{self.cfg.consumer}.{holder}"

    async def renew(self) -> list[int]:
        """Renew the held leases; the partitions whose lease was lost (dropped, no snapshot)."""
        lost = [p for p, h in self.held.items() if not await h.lease.hold()]
        for p in lost:
            await self._unsubscribe(self.held.pop(p))
        return lost

    def surplus(self) -> list[int]:
        """Partitions held over the fair share (the highest numbers first)."""
        extra = len(self.held) - self.fair_share()
        return sorted(self.held, reverse=True)[: max(0, extra)]

    async def try_take(self) -> Taken | None:
        """Take one free partition if under the fair share: its lease, snapshot and consumer."""
        if len(self.held) >= self.fair_share():
            return None
        n = self.cfg.partitions
        for p in ((self._offset + i) % n for i in range(n)):
            if p in self.held:
                continue
            lease = Lease(self.leases, f"{self.cfg.consumer}.{p}", self.holder, self.cfg.lease_ttl_s)
            if await lease.hold():
                try:
                    return await self._open(p, lease)
                except Exception:
                    await lease.release()
                    raise
        return None

    async def _open(self, p: int, lease: Lease) -> Taken:
        """The snapshot, then the previous owner's acknowledgement floor (its consumer is then
        deleted: its in-flight deliveries would come back only after the ack wait, out of order),
        then a consumer of this owner's from just after the snapshot; the batches up to that
        floor are the replay, the rest are live. The consumer has one replica and a name of its
        own: it can be created while a node is down, and it holds no state the snapshot and the
        stream do not (its floor only bounds the replay)."""
        try:
            before: Snapshot | None = Snapshot.decode((await self.snapshots.get(self.key(p))).value or b"")
        except (nats.js.errors.KeyNotFoundError, zlib.error, ValueError, KeyError):
            before = None
        acked = before.seq if before is not None else 0
        if before is not None:
            try:
                info = await self.js.consumer_info(self.cfg.stream, before.consumer, timeout=2)
                acked = max(acked, info.ack_floor.stream_seq if info.ack_floor is not None else 0)
                await self.js.delete_consumer(self.cfg.stream, before.consumer)
            except (nats.errors.Error, TimeoutError) as exc:  # gone (its node, or inactivity)
                log.info("partition %d: the previous consumer is unavailable (%r)", p, exc)
        start = before.seq + 1 if before is not None and before.state is not None else acked + 1
        durable = f"{self.cfg.consumer}-{p}-{uuid.uuid4().hex[:8]}"
        await self.js.add_consumer(
            self.cfg.stream,
            ConsumerConfig(
                durable_name=durable,
                filter_subject=f"{self.cfg.subject_prefix}.batch.{p}.>",
                ack_policy=AckPolicy.ALL,
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=start,
                num_replicas=1,
                inactive_threshold=max(60.0, 10 * self.cfg.lease_ttl_s),  # an owner that died
            ),
        )
        sub = await self.js.pull_subscribe_bind(durable, stream=self.cfg.stream)
        snap_seq = before.seq if before is not None else 0
        held = Held(p, lease, sub, durable, seq=start - 1, snapshot_seq=snap_seq)
        replay: list[Msg] = []
        live: list[Msg] = []
        while held.seq < acked and not live:  # held.seq: the last batch replayed
            msgs = await self.fetch(held, FETCH_WAIT_S)
            if not msgs:
                break  # the rest aged out of the stream
            for msg in msgs:
                if msg.metadata.sequence.stream > acked:
                    live.append(msg)  # delivered by the caller, after the replay
                    continue
                replay.append(msg)
                held.seq, held.delivery = msg.metadata.sequence.stream, msg.metadata.sequence.consumer
        self.held[p] = held
        log.info(
            "partition %d taken by %s: snapshot at %d, %d batches replayed",
            p,
            self.holder,
            snap_seq,
            len(replay),
        )
        return Taken(held, before.state if before is not None else None, replay, live)

    def key(self, p: int) -> str:
        return f"{self.cfg.consumer}.{p}"

    async def give_back(self, p: int, snapshot: bytes | None) -> None:
        """Keep the partition's last snapshot, then release its lease (another worker takes it)."""
        held = self.held.pop(p, None)
        if held is None:
            return
        if held.lease.fresh():
            await self.save(held, snapshot)
        await self._unsubscribe(held)
        await held.lease.release()

    async def reset(self, p: int) -> None:
        """Forget ``p`` here after a failed delivery: the lease goes back and the partition is
        taken again (by any worker) from its snapshot, so nothing fetched is skipped."""
        held = self.held.pop(p, None)
        if held is not None:
            await self._unsubscribe(held)
            await held.lease.release()

    async def save(self, held: Held, snapshot: bytes | None) -> None:
        """Store ``snapshot`` as covering up to ``held.seq`` (call after acknowledging it)."""
        await self.snapshots.put(
            self.key(held.partition), Snapshot(held.seq, held.consumer, snapshot).encode()
        )
        held.snapshot_seq, held.snapshot_at = held.seq, time.monotonic()

    def snapshot_due(self, held: Held) -> bool:
        return held.seq > held.snapshot_seq and time.monotonic() - held.snapshot_at >= SNAPSHOT_EVERY_S

    async def leave(self) -> None:
        """Stop: the membership key is purged (the partitions were given back already), so the
        others count one worker less at once."""
        try:
            await self.js.purge_stream(self.leases_stream, subject=self.member_subject(self.holder))
        except nats.errors.Error as exc:
            log.info("membership of %s not removed: %s", self.holder, exc)

    # ------------------------------------------------------------------ fetching

    async def fetch(self, held: Held, wait_s: float) -> list[Msg]:
        try:
            msgs = await held.sub.fetch(FETCH_BATCH, timeout=wait_s)
        except (nats.errors.TimeoutError, TimeoutError):  # nothing stored: either, by where it timed out
            msgs = []
        except nats.errors.Error as exc:  # no consumer leader for a moment (a node died): next round
            log.info("partition %d: fetch failed: %r", held.partition, exc)
            held.failing_since = held.failing_since or time.monotonic()
            await asyncio.sleep(wait_s)
            return []
        held.failing_since = None
        return msgs

    async def fetch_all(self) -> tuple[list[tuple[Held, list[Msg]]], list[int]]:
        """One fetch per held partition, at once: those that got batches, and those whose
        fetches have failed for a lease TTL (their consumer went with its node: to take again)."""
        held = list(self.held.values())
        got = await asyncio.gather(*(self.fetch(h, FETCH_WAIT_S) for h in held))
        now = time.monotonic()
        stuck = [
            h.partition
            for h in held
            if h.failing_since is not None and now - h.failing_since > self.cfg.lease_ttl_s
        ]
        return [(h, msgs) for h, msgs in zip(held, got, strict=True) if msgs], stuck

    @staticmethod
    async def _unsubscribe(held: Held) -> None:
        try:
            await held.sub.unsubscribe()
        except Exception as exc:  # the connection is gone: nothing to unsubscribe
            log.debug("unsubscribing partition %d: %s", held.partition, exc)
