"""The message bus on NATS JetStream: ingest stores each batch in a stream, and the
subscribers are fed from a durable consumer (``bus.kind: jetstream``; docs/distributed.md).

Subjects are ``<prefix>.<family>.<partition>.<site>``: the family is the message type
(``device_event``...; ``gateway`` for a batch with nothing accepted, which still shows the
gateway is alive), the partition :func:`partition_of` the site. Every message carries a
``Nats-Msg-Id`` of site, source, epoch, seq and will-flag, so a batch stored again (the
gateway resent it, or the SQL commit after :meth:`JetStreamBus.store` failed) is dropped by
JetStream within ``duplicate_window_s``; the batch's gateway, arrival time and backlog travel
in headers. :meth:`~JetStreamBus.store` returns once JetStream acknowledged every message, so
the gateway is answered only after storage.

nats-py is asyncio and ingest runs in worker threads: the client lives on one event loop in
its own thread (:class:`EventLoopThread`), and threads hand it coroutines with
``run_coroutine_threadsafe``. The consumer runs in a second thread that fetches from the
durable pull consumer through that loop, calls the subscribers in stream order (one call per
batch), then acknowledges.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import uuid
import zlib
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime
from typing import Any, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig

from lobbywatch.protocol import codec
from lobbywatch.protocol.ingest import Backlog
from lobbywatch.protocol.messages import Envelope
from server.bus import BusUnavailable, IngestContext, Subscriber, deliver
from server.core.config import BusConfig
from server.subscribers import Subscribers

log = logging.getLogger(__name__)

T = TypeVar("T")

FETCH_BATCH = 512
H_BATCH, H_GATEWAY, H_RECEIVED, H_BACKLOG = "Lw-Batch", "Lw-Gateway", "Lw-Received", "Lw-Backlog"


def partition_of(site: str, partitions: int) -> int:
    """The site's partition: CRC-32 of its id modulo ``partitions`` (stable across processes
    and versions, unlike Python's ``hash``).

    >>> partition_of("hall-001", 16), partition_of("hall-001", 16) == partition_of("hall-001", 16)
    (1, True)
    """
    return zlib.crc32(site.encode()) % partitions


def message_id(m: Envelope) -> str:
    """The JetStream dedup id: the same key SQL deduplicates on."""
    return f"{m.site}:{m.source}:{m.epoch}:{m.seq}:{'w' if m.is_will else 'm'}"


class EventLoopThread:
    """An asyncio loop in a daemon thread; :meth:`run` calls a coroutine from any other thread."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
        if not self.loop.is_running():
            self.loop.close()


class JetStreamBus:
    """:class:`server.bus.MessageBus` on a JetStream stream (created if missing)."""

    def __init__(self, cfg: BusConfig) -> None:
        self.cfg = cfg
        self.errors = 0
        self.stored = 0  # messages JetStream acknowledged (duplicates included)
        self.delivered = 0  # batches handed to the subscribers
        self._subscribers = Subscribers[Subscriber]()
        self._io = EventLoopThread("bus-nats")
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._stop = threading.Event()
        self._consumer: threading.Thread | None = None
        self._batches = 0
        self._instance = uuid.uuid4().hex[:12]  # batch ids unique across replicas

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Connect, make sure the stream and the durable consumer exist, start consuming."""
        self._io.start()
        self._io.run(self._connect(), self.cfg.publish_timeout_s + 30)
        self._consumer = threading.Thread(target=self._consume, name="bus-consumer", daemon=True)
        self._consumer.start()

    async def _connect(self) -> None:
        cfg = self.cfg
        self._nc = await nats.connect(
            servers=cfg.servers,
            name=f"lobbywatch-server-{os.getpid()}",  # in the servers' /connz
            connect_timeout=5,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
        )
        self._js = self._nc.jetstream(timeout=cfg.publish_timeout_s)
        stream = StreamConfig(
            name=cfg.stream,
            subjects=[f"{cfg.subject_prefix}.>"],
            num_replicas=cfg.replicas,
            duplicate_window=cfg.duplicate_window_s,
        )
        try:
            await self._js.stream_info(cfg.stream)
        except nats.js.errors.NotFoundError:
            await self._js.add_stream(stream)
        await self._js.add_consumer(
            cfg.stream,
            ConsumerConfig(
                durable_name=cfg.consumer,
                ack_policy=AckPolicy.ALL,
                deliver_policy=DeliverPolicy.ALL,
                num_replicas=cfg.replicas,
            ),
        )

    def stop(self) -> None:
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
        js = self._js
        if js is None:
            raise BusUnavailable("the bus is not started")
        self._batches += 1
        headers = {
            H_BATCH: f"{self._instance}-{self._batches}",
            H_GATEWAY: ctx.gateway,
            H_RECEIVED: ctx.received_at.isoformat(),
        }
        if ctx.backlog is not None:
            headers[H_BACKLOG] = ctx.backlog.model_dump_json()
        part = partition_of(ctx.site, self.cfg.partitions)
        prefix = self.cfg.subject_prefix
        pending: list[tuple[str, bytes, dict[str, str]]] = [
            (
                f"{prefix}.{m.type}.{part}.{ctx.site}",
                codec.encode(m),
                {**headers, "Nats-Msg-Id": message_id(m)},
            )
            for m in messages
        ] or [(f"{prefix}.gateway.{part}.{ctx.site}", b"", headers)]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.cfg.publish_timeout_s
        while pending:
            futures = [await js.publish_async(s, p, headers=h) for s, p, h in pending]
            left = max(0.1, deadline - loop.time())
            results = await asyncio.gather(
                *(asyncio.wait_for(f, left) for f in futures), return_exceptions=True
            )
            failed = [item for item, r in zip(pending, results, strict=True) if isinstance(r, BaseException)]
            self.stored += len(pending) - len(failed)
            if failed and loop.time() >= deadline:
                first = next(r for r in results if isinstance(r, BaseException))
                raise BusUnavailable(f"JetStream did not store {len(failed)} messages: {first!r}")
            if failed:  # no stream leader for a moment (an election): resend, ids dedup
                await asyncio.sleep(0.2)
            pending = failed

    # ------------------------------------------------------------------ consumer

    def _consume(self) -> None:
        """Fetch, deliver one call per stored batch, acknowledge; until :meth:`stop`."""
        sub: JetStreamContext.PullSubscription | None = None
        while not self._stop.is_set():
            if not self._subscribers.snapshot():
                self._stop.wait(0.2)
                continue
            try:
                if sub is None:
                    sub = self._io.run(self._pull_subscription(), 30)
                msgs = self._io.run(self._fetch(sub), 10)
            except Exception as exc:
                log.warning("bus consumer: %s; retrying", exc)
                sub = None
                self._stop.wait(1)
                continue
            if not msgs:
                continue
            for batch, ctx in _batches(msgs):
                deliver(self, batch, ctx)
                self.delivered += 1
            try:
                self._io.run(msgs[-1].ack(), 10)  # AckPolicy.ALL: everything up to here
            except Exception as exc:  # redelivered later: the subscribers see it again
                log.warning("bus consumer could not acknowledge: %s", exc)

    async def _pull_subscription(self) -> JetStreamContext.PullSubscription:
        assert self._js is not None
        return await self._js.pull_subscribe_bind(self.cfg.consumer, stream=self.cfg.stream)

    async def _fetch(self, sub: JetStreamContext.PullSubscription) -> list[Msg]:
        try:
            return await sub.fetch(FETCH_BATCH, timeout=1)
        except nats.errors.TimeoutError:
            return []


def _batches(msgs: list[Msg]) -> list[tuple[list[Envelope], IngestContext]]:
    """Consecutive messages of one stored batch, decoded, with the batch's context."""
    out: list[tuple[list[Envelope], IngestContext]] = []
    last: str | None = None
    for msg in msgs:
        headers = msg.headers or {}
        batch = headers.get(H_BATCH)
        if batch != last or not out:
            site = msg.subject.rsplit(".", 1)[-1]
            backlog = headers.get(H_BACKLOG)
            ctx = IngestContext(
                site,
                headers.get(H_GATEWAY, ""),
                datetime.fromisoformat(headers[H_RECEIVED]),
                Backlog.model_validate(json.loads(backlog)) if backlog else None,
            )
            out.append(([], ctx))
            last = batch
        if msg.data:
            out[-1][0].append(codec.decode(msg.data))
    return out
