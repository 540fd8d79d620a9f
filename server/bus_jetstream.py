"""The message bus on NATS JetStream: ingest stores each batch in a stream, and the
subscribers are fed from a durable consumer (``bus.kind: jetstream``; docs/distributed.md).

A batch is one JetStream message (split only past the NATS payload limit) on the subject
``<prefix>.batch.<partition>.<site>`` (:func:`partition_of`): its accepted messages as a JSON
array, its gateway, arrival time and backlog in headers, and a ``Nats-Msg-Id`` digest of the
messages' keys, so the same batch stored again (the gateway resent it after a failed SQL
commit) is dropped by JetStream within ``duplicate_window_s``; the consumer also drops a
message key it delivered recently (:class:`RecentKeys`: a resend with other messages). A
counter state set on a counter page is a batch of its own on its hall's subject (``Lw-By-Hand``).
:meth:`JetStreamBus.store` returns once JetStream acknowledged, so the gateway is answered only
after storage. One message per batch, not per message: nats-py spends about 30 us of CPU on
each acknowledged publish, more than the whole in-process ingest of a message.

nats-py is asyncio and ingest runs in worker threads: the client lives on one event loop in
its own thread (:class:`server.bus_loop.EventLoopThread`), and threads hand it coroutines with
``run_coroutine_threadsafe``. The consumer thread takes this process's fair share of the
partitions (:class:`server.bus_partitions.Partitions`: a lease, a filtered durable consumer
and a snapshot each), feeds the subscribers their batches in stream order, acknowledges.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import socket
import threading
import time
import uuid
import zlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StreamConfig

from lobbywatch.protocol import codec
from lobbywatch.protocol.ingest import Backlog
from lobbywatch.protocol.messages import Envelope
from server.bus import BusUnavailable, IngestContext, Subscriber, deliver
from server.bus_loop import EventLoopThread
from server.bus_partitions import Held, NoHooks, PartitionHooks, Partitions, bucket
from server.core.config import BusConfig
from server.subscribers import Subscribers

log = logging.getLogger(__name__)


RECENT_KEYS = 200_000  # message keys the consumer remembers (about 40 MB)
HEADROOM = 4096  # bytes of a NATS message left for its headers
FAMILY = "batch"  # the subject's family token: see docs/distributed.md
H_GATEWAY, H_RECEIVED, H_BACKLOG = "Lw-Gateway", "Lw-Received", "Lw-Backlog"
H_SENT, H_CLOCK, H_BY_HAND = "Lw-Sent", "Lw-Clock", "Lw-By-Hand"


def partition_of(site: str, partitions: int) -> int:
    """The site's partition: CRC-32 of its id modulo ``partitions`` (stable across processes
    and versions, unlike Python's ``hash``).

    >>> partition_of("hall-001", 16), partition_of("hall-001", 16) == partition_of("hall-001", 16)
    (1, True)
    """
    return zlib.crc32(site.encode()) % partitions


def message_key(m: Envelope, by_hand: bool = False) -> str:
    """The key SQL deduplicates on: site, source, epoch, seq and the will flag; a message set by
    hand on the server (not in SQL; its epoch is the millisecond it was set): its id."""
    if by_hand:
        return f"{m.site}:{m.id}"
    return f"{m.site}:{m.source}:{m.epoch}:{m.seq}:{'w' if m.is_will else 'm'}"


class JetStreamBus:
    """:class:`server.bus.MessageBus` on a JetStream stream (created if missing)."""

    def __init__(self, cfg: BusConfig) -> None:
        self.cfg = cfg
        self.errors = 0
        self.stored = 0  # stream messages (batches) JetStream acknowledged, duplicates included
        self.delivered = 0  # batches handed to the subscribers
        self._subscribers = Subscribers[Subscriber]()
        self._io = EventLoopThread("bus-nats")
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._stop = threading.Event()
        self._consumer: threading.Thread | None = None
        self._recent = RecentKeys()
        self._partitions: Partitions | None = None  # the partitions this process consumes
        self._hooks: PartitionHooks = NoHooks()

    @property
    def leader(self) -> bool:
        """Whether this process holds a partition (its subscribers get that partition's batches)."""
        return self._partitions is not None and bool(self._partitions.held)

    def held(self) -> list[int]:
        """The partitions this process consumes now."""
        return sorted(self._partitions.held) if self._partitions is not None else []

    def serve(self, hooks: PartitionHooks) -> None:
        """Tell ``hooks`` of each partition taken (snapshot, replay) and given back (before start)."""
        self._hooks = hooks

    def holds(self, site: str) -> bool:
        """Whether this process holds ``site``'s partition with a fresh lease (fences side effects)."""
        parts = self._partitions
        return parts is not None and parts.holds(partition_of(site, self.cfg.partitions))

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Connect, make sure the stream and the durable consumer exist, start consuming."""
        self._io.start()
        try:
            self._io.run(self._connect(), self.cfg.publish_timeout_s + 30)
        except Exception as exc:
            self.stop()
            servers = ", ".join(self.cfg.servers)
            raise BusUnavailable(
                f"cannot set up JetStream at {servers}: {type(exc).__name__}: {exc}"
            ) from exc
        self._consumer = threading.Thread(target=self._consume, name="bus-consumer", daemon=True)
        self._consumer.start()

    async def _connect(self) -> None:
        cfg = self.cfg
        connecting = nats.connect(
            servers=cfg.servers,
            name=f"lobbywatch-server-{os.getpid()}",  # in the servers' /connz
            connect_timeout=5,
            max_reconnect_attempts=-1,  # forever once connected; the first connect is bounded here
            reconnect_time_wait=0.5,
        )
        self._nc = await asyncio.wait_for(connecting, cfg.publish_timeout_s)
        self._js = js = self._nc.jetstream(timeout=cfg.publish_timeout_s)
        stream = StreamConfig(
            name=cfg.stream,
            subjects=[f"{cfg.subject_prefix}.>"],
            num_replicas=cfg.replicas,
            duplicate_window=cfg.duplicate_window_s,
            max_age=cfg.retention_s,
        )
        try:
            await js.stream_info(cfg.stream)
        except nats.js.errors.NotFoundError:
            await js.add_stream(stream)
        leases = await bucket(
            js, KeyValueConfig(f"{cfg.stream}_LEASES", ttl=cfg.lease_ttl_s, replicas=cfg.replicas)
        )
        snapshots = await bucket(js, KeyValueConfig(f"{cfg.stream}_SNAPSHOTS", replicas=cfg.replicas))
        holder = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._partitions = Partitions(cfg, js, leases, snapshots, holder)

    def stop(self) -> None:
        """Stop consuming (the consumer thread gives its partitions back), close the connection,
        end the loop thread (once)."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._consumer is not None:
            self._consumer.join(10)
            self._consumer = None
        if self._nc is not None:
            try:
                self._io.run(self._nc.close(), 10)
            except Exception:
                log.exception("closing the NATS connection failed")
            self._nc = None
        self._io.stop()

    # ------------------------------------------------------------------ MessageBus

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        return self._subscribers.add(callback)

    def subscribers(self) -> list[Subscriber]:
        return self._subscribers.snapshot()

    def store(self, messages: Sequence[Envelope], ctx: IngestContext) -> None:
        """Publish the batch and wait until JetStream stored every message (or raise)."""
        try:
            self._io.run(self._store(messages, ctx), self.cfg.publish_timeout_s + 5)
        except BusUnavailable:
            raise
        except Exception as exc:  # a timeout of the bridge itself, a closed connection
            raise BusUnavailable(f"{type(exc).__name__}: {exc}") from exc

    def publish(self, messages: Sequence[Envelope], ctx: IngestContext) -> None:
        """Nothing to do: the consumer delivers what :meth:`store` stored."""

    async def _store(self, messages: Sequence[Envelope], ctx: IngestContext) -> None:
        """One JetStream message per batch (per part of a batch over the NATS payload limit),
        each resent on failure until ``publish_timeout_s``; ids make a resend harmless."""
        js = self._js
        if js is None:
            raise BusUnavailable("the bus is not started")
        limit = (self._nc.max_payload if self._nc is not None else 1 << 20) - HEADROOM
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.cfg.publish_timeout_s
        for subject, payload, headers in batch_messages(self.cfg, messages, ctx, limit):
            while True:
                try:
                    left = max(0.1, deadline - loop.time())
                    await js.publish(subject, payload, headers=headers, timeout=left)
                    self.stored += 1
                    break
                except nats.errors.Error as exc:  # timeouts, no responders, API errors
                    if loop.time() >= deadline:
                        raise BusUnavailable(f"JetStream did not store the batch: {exc!r}") from exc
                    await asyncio.sleep(0.2)  # no stream leader for a moment (an election): resend

    # ------------------------------------------------------------------ consumer

    def _consume(self) -> None:
        """Every third of the lease TTL: membership, leases, fair share (:meth:`_balance`); in
        between, fetch from every held partition and deliver; give everything back at stop."""
        next_balance = 0.0
        while not self._stop.is_set():
            if not self._subscribers.snapshot() or self._partitions is None:
                self._stop.wait(0.2)
                continue
            try:
                if time.monotonic() >= next_balance:
                    next_balance = time.monotonic() + self.cfg.lease_ttl_s / 3
                    self._balance(self._partitions)
                if not self._partitions.held:
                    self._stop.wait(0.2)
                    continue
                got, stuck = self._io.run(self._partitions.fetch_all(), 10)
                for held, msgs in got:
                    self._deliver_or_reset(self._partitions, held, msgs)
                for p in stuck:
                    self._reset(self._partitions, p, "its consumer does not answer")
            except Exception as exc:
                log.warning("bus consumer: %s: %s; retrying", type(exc).__name__, exc)
                self._stop.wait(1)
        if self._partitions is not None:
            self._leave(self._partitions)

    def _balance(self, parts: Partitions) -> None:
        """Heartbeat, renew the leases (drop those lost), give back what is over the fair
        share, take free partitions up to it (each with its snapshot and replay)."""
        self._io.run(parts.heartbeat(), 10)
        for p in self._io.run(parts.renew(), 10):
            log.warning("partition %d lost (its lease expired): dropped", p)
            self._hooks.drop(p)
        for p in parts.surplus():
            self._give_back(parts, p)
        while not self._stop.is_set() and (taken := self._io.run(parts.try_take(), 60)) is not None:
            replay = [decode_batch(m, self._recent) for m in taken.replay]
            self._hooks.take(taken.held.partition, taken.snapshot, replay)
            if taken.replay:
                self._io.run(taken.replay[-1].ack(), 10)
            # At once: the next owner must know this owner's consumer (and the replayed state).
            self._io.run(parts.save(taken.held, self._hooks.snapshot(taken.held.partition)), 10)
            if taken.live:
                self._deliver_or_reset(parts, taken.held, taken.live)

    def _deliver_or_reset(self, parts: Partitions, held: Held, msgs: list[Msg]) -> None:
        """:meth:`_deliver`; when that fails (or a fetch was lost: a gap in the consumer's
        sequence), the partition is dropped and taken again from its snapshot, never skipped
        (acknowledging a later batch would acknowledge the lost ones too)."""
        try:
            if held.delivery and msgs[0].metadata.sequence.consumer != held.delivery + 1:
                raise RuntimeError(
                    f"deliveries {held.delivery + 1}..{msgs[0].metadata.sequence.consumer - 1} lost"
                )
            self._deliver(parts, held, msgs)
        except Exception as exc:
            self._reset(parts, held.partition, str(exc))

    def _reset(self, parts: Partitions, p: int, why: str) -> None:
        """Drop ``p`` and give its lease back: it is taken again (by any worker) from its snapshot."""
        log.warning("partition %d: %s; taken again from its snapshot", p, why)
        self._hooks.drop(p)
        try:
            self._io.run(parts.reset(p), 10)
        except Exception:  # the lease expires by itself
            parts.held.pop(p, None)

    def _deliver(self, parts: Partitions, held: Held, msgs: list[Msg]) -> None:
        """Deliver one fetch of a partition (while its lease holds), acknowledge the last one,
        snapshot the partition when due (after the acknowledgement: it covers what is acked)."""
        if not self._io.run(held.lease.hold(), 10):
            raise RuntimeError("its lease is lost")
        for msg in msgs:
            messages, ctx = decode_batch(msg, self._recent)
            deliver(self, messages, ctx)
            held.seq, held.delivery = msg.metadata.sequence.stream, msg.metadata.sequence.consumer
            self.delivered += 1
        try:
            self._io.run(msgs[-1].ack(), 10)  # AckPolicy.ALL: everything up to here
        except Exception as exc:  # redelivered later: the subscribers see it again
            log.warning("bus consumer could not acknowledge: %s", exc)
            return
        if parts.snapshot_due(held) and (state := self._hooks.snapshot(held.partition)) is not None:
            try:
                self._io.run(parts.save(held, state), 10)
            except Exception as exc:  # the next one is due at once
                log.warning("partition %d: snapshot not kept: %s", held.partition, exc)

    def _give_back(self, parts: Partitions, p: int) -> None:
        state = self._hooks.snapshot(p)
        self._hooks.drop(p)
        self._io.run(parts.give_back(p, state), 10)

    def _leave(self, parts: Partitions) -> None:
        """At stop: every partition back (with its snapshot), then the membership key."""
        for p in list(parts.held):
            try:
                self._give_back(parts, p)
            except Exception:
                log.exception("giving partition %d back failed", p)
        try:
            self._io.run(parts.leave(), 10)
        except Exception:
            log.exception("leaving the workers failed")


def batch_messages(
    cfg: BusConfig, messages: Sequence[Envelope], ctx: IngestContext, max_payload: int
) -> list[tuple[str, bytes, dict[str, str]]]:
    """(subject, payload, headers) of a batch: its messages as JSON arrays of at most
    ``max_payload`` bytes (one, unless the batch is larger), its context in headers, and a
    ``Nats-Msg-Id`` digest of each part's message keys (none for an empty batch)."""
    headers = {H_GATEWAY: ctx.gateway, H_RECEIVED: ctx.received_at.isoformat()}
    if ctx.backlog is not None:
        headers[H_BACKLOG] = ctx.backlog.model_dump_json()
    if ctx.sent_at is not None:
        headers[H_SENT] = ctx.sent_at.isoformat()
    if ctx.by_hand:
        headers[H_BY_HAND] = "1"
    if ctx.clock_rejections:
        headers[H_CLOCK] = json.dumps([(s, t.isoformat(), r) for s, t, r in ctx.clock_rejections])
    subject = f"{cfg.subject_prefix}.{FAMILY}.{partition_of(ctx.site, cfg.partitions)}.{ctx.site}"
    parts: list[tuple[list[Envelope], list[bytes]]] = [([], [])]
    size = 2
    for m in messages:
        encoded = codec.encode(m)
        if parts[-1][0] and size + len(encoded) + 1 > max_payload:
            parts.append(([], []))
            size = 2
        parts[-1][0].append(m)
        parts[-1][1].append(encoded)
        size += len(encoded) + 1
    out = []
    for part, encoded_part in parts:
        part_headers = dict(headers)
        if part:
            keys = "|".join(message_key(m, ctx.by_hand) for m in part)
            digest = hashlib.blake2b(keys.encode(), digest_size=16)
            part_headers["Nats-Msg-Id"] = f"{ctx.site}:{digest.hexdigest()}"
        out.append((subject, b"[" + b",".join(encoded_part) + b"]", part_headers))
    return out


class RecentKeys:
    """The last ``capacity`` message keys delivered: drops a message stored twice under two
    batch digests (a batch resent with other messages after its SQL commit failed)."""

    def __init__(self, capacity: int = RECENT_KEYS) -> None:
        self.capacity = capacity
        self._keys: OrderedDict[str, None] = OrderedDict()

    def fresh(self, message: Envelope, by_hand: bool = False) -> bool:
        key = message_key(message, by_hand)
        if key in self._keys:
            return False
        self._keys[key] = None
        if len(self._keys) > self.capacity:
            self._keys.popitem(last=False)
        return True


def decode_batch(msg: Msg, recent: RecentKeys) -> tuple[list[Envelope], IngestContext]:
    """A stored batch back as the subscribers' arguments (messages already delivered dropped)."""
    headers = msg.headers or {}
    backlog, sent, clock = headers.get(H_BACKLOG), headers.get(H_SENT), headers.get(H_CLOCK)
    ctx = IngestContext(
        msg.subject.rsplit(".", 1)[-1],
        headers.get(H_GATEWAY, ""),
        datetime.fromisoformat(headers[H_RECEIVED]),
        Backlog.model_validate(json.loads(backlog)) if backlog else None,
        datetime.fromisoformat(sent) if sent else None,
        tuple((s, datetime.fromisoformat(t), r) for s, t, r in json.loads(clock)) if clock else (),
        H_BY_HAND in headers,
    )
    messages = [codec.decode_obj(item) for item in json.loads(msg.data)]
    return [m for m in messages if recent.fresh(m, ctx.by_hand)], ctx
