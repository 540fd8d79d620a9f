"""The WRITER role on the JetStream bus: the stream's batches into InfluxDB, as a work queue.

Every writer process pulls from one shared durable consumer (``<consumer>-writers``, e.g.
``alerts-writers``), so each stored batch is written by exactly one writer: its gateway point
and each message's own points (:func:`server.timeseries.lines.message_lines`, the lines ingest
spools on the single box), posted with :meth:`InfluxWriter.write_lines` and acknowledged only
after InfluxDB took them. A writer that dies or fails leaves its batches unacknowledged: they
are redelivered (to any writer) after ``ACK_WAIT_S`` or at once on a failure (``nak``).
Written twice, a point overwrites itself (its time comes from the source). The lines that
need a hall's state (device states, per-site aggregates, sequence and rollup points) are the
alert worker's (:class:`server.ingest_stream.StreamDomain`). docs/distributed.md, "Roles".
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from lobbywatch.backoff import Backoff
from lobbywatch.protocol.ingest import Backlog, IngestBatch
from server.bus_jetstream import RecentKeys, decode_batch
from server.bus_nats import NatsLink
from server.timeseries.lines import gateway_line, message_lines
from server.timeseries.writer import InfluxWriter

log = logging.getLogger(__name__)

FETCH = 64  # stored batches per pull
ACK_WAIT_S = 30.0  # a batch a writer took and did not acknowledge goes to another after this


def writers_consumer(consumer: str) -> str:
    """The writers' durable consumer name, next to the alert engine's."""
    return f"{consumer}-writers"


def batch_lines(msg: Msg, wait_limit_s: Callable[[str], float]) -> list[str]:
    """The points of one stored batch that need no state: the gateway's, then each message's."""
    messages, ctx = decode_batch(msg, RecentKeys())  # repeats inside the batch only
    lines: list[str] = []
    if ctx.by_hand:  # a counter page's state: no gateway, and not a time series (as on the single box)
        return lines
    if ctx.sent_at is not None:
        header = IngestBatch(
            gateway=ctx.gateway,
            site=ctx.site,
            sent_at=ctx.sent_at,
            backlog=ctx.backlog or Backlog(count=0, bytes=0, oldest_age_s=0.0),
            messages=[],
        )
        lines.append(gateway_line(header))
    limit = wait_limit_s(ctx.site)
    for m in messages:
        lines += message_lines(m, wait_limit_s=limit)
    return lines


class WriterQueue:
    """This process's share of the writers' work queue, in a thread of its own."""

    def __init__(self, link: NatsLink, writer: InfluxWriter, wait_limit_s: Callable[[str], float]) -> None:
        self.link = link
        self.writer = writer
        self.wait_limit_s = wait_limit_s
        self.batches = 0  # stored batches this process wrote and acknowledged
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.link.run(self._ensure_consumer(), self.link.cfg.publish_timeout_s + 30)
        self._thread = threading.Thread(target=self._run, name="bus-writers", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15)
            self._thread = None

    async def _ensure_consumer(self) -> None:
        cfg = self.link.cfg
        await self.link.js.add_consumer(
            cfg.stream,
            ConsumerConfig(
                durable_name=writers_consumer(cfg.consumer),
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                filter_subject=f"{cfg.subject_prefix}.batch.>",
                ack_wait=ACK_WAIT_S,
                max_ack_pending=FETCH * 16,
                num_replicas=cfg.replicas,
            ),
        )

    async def _pull(self) -> JetStreamContext.PullSubscription:
        cfg = self.link.cfg
        return await self.link.js.pull_subscribe_bind(writers_consumer(cfg.consumer), stream=cfg.stream)

    async def _fetch(self, sub: JetStreamContext.PullSubscription) -> list[Msg]:
        try:
            return await sub.fetch(FETCH, timeout=1)
        except nats.errors.TimeoutError:
            return []

    def _run(self) -> None:
        """Pull, write every pulled batch's lines in one go, acknowledge them; on a failure
        hand them back (``nak``) and wait (back-off) before pulling again."""
        backoff = Backoff(0.2, 10.0)
        sub: JetStreamContext.PullSubscription | None = None
        while not self._stop.is_set():
            try:
                if sub is None:
                    sub = self.link.run(self._pull(), 30)
                msgs = self.link.run(self._fetch(sub), 10)
            except Exception as exc:
                log.warning("writers: cannot pull: %s; retrying", exc)
                sub = None
                self._stop.wait(backoff.next_delay())
                continue
            if not msgs:
                continue
            try:
                lines = [line for m in msgs for line in batch_lines(m, self.wait_limit_s)]
                self.writer.write_lines(lines)
            except Exception as exc:
                self.writer.stats.failures += 1
                self.writer.stats.last_error = str(exc)
                log.warning("writers: InfluxDB did not take %d batches: %s", len(msgs), exc)
                self._settle(msgs, ack=False)
                self._stop.wait(backoff.next_delay())
                continue
            backoff.reset()
            self._settle(msgs, ack=True)
            self.batches += len(msgs)

    def _settle(self, msgs: list[Msg], *, ack: bool) -> None:
        async def settle() -> None:
            for m in msgs:
                await (m.ack() if ack else m.nak())

        try:
            self.link.run(settle(), 10)
        except Exception as exc:  # unacknowledged: redelivered after ACK_WAIT_S
            log.warning("writers: could not %s: %s", "acknowledge" if ack else "hand back", exc)
