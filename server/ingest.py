"""The stateful half of ingest: deduplicate, store, derive (hall state, SQL, time series), bus.

Batches arrive parsed, validated and with their InfluxDB lines built (:mod:`server.ingest_prepare`).
One batch is one SQL transaction: idempotency keys (``received_messages``, unique by message id
and by (site, source, epoch, seq, is_will)), the rows of single messages (tickets, visits) and,
on the single box, the derived state (sequence statistics, device episodes and faults, closed
rollup minutes, the lines into the spool) commit together or not at all; the bus stores the
accepted messages before the commit. On the JetStream bus ingest derives nothing: the stream's
consumers do (:meth:`IngestPipeline.apply_stored`, docs/distributed.md "Roles"). Batches are
processed one at a time per process (a lock); across processes the unique constraints decide,
and the loser gets a 503 and resends. Duplicate checks trust memory first: a message above its
stream's highest seq here cannot be in SQL; if the keys say otherwise the batch is redone with
every key looked up (``IngestCounters.memory_conflicts``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lobbywatch.clock import Clock
from lobbywatch.protocol.ingest import Backlog, IngestBatch
from lobbywatch.protocol.messages import (
    DeviceEvent,
    DeviceHeartbeat,
    DeviceStatus,
    Envelope,
    VisitRecord,
    WaitRecord,
    ZoneState,
)
from lobbywatch.protocol.sequence import SequenceTracker, Verdict
from lobbywatch.protocol.tickets import TicketEvent
from server.bus import BusUnavailable, IngestContext, MessageBus
from server.core.config import IngestConfig
from server.devices import DeviceTracker
from server.hall_state import HallState
from server.ingest_keys import stored_keys
from server.ingest_outcome import Answer, Conflict, IngestCounters, IngestOutcome, Overloaded, StreamStats
from server.ingest_prepare import Candidate, PreparedBatch
from server.live import LiveState
from server.registry import SiteRegistry
from server.rollups import Rollups
from server.storage.db import Database
from server.storage.models import SeqStream
from server.storage.repo import ensure_device, insert_keys, prune_received, save_streams, sql_time
from server.storage.tickets import add_ticket_event
from server.timeseries.lines import gateway_line, site_line, stream_line
from server.timeseries.writer import InfluxWriter
from server.visits import store_visit

log = logging.getLogger(__name__)

StreamKey = tuple[str, str, int]


_DEVICE_TYPES = (DeviceStatus, DeviceHeartbeat, DeviceEvent)


class IngestPipeline:
    def __init__(
        self,
        *,
        writer: InfluxWriter,
        hall: HallState,
        live: LiveState,
        devices: DeviceTracker,
        rollups: Rollups,
        bus: MessageBus,
        registry: SiteRegistry,
        clock: Clock,
        cfg: IngestConfig,
        derive: bool = True,
    ) -> None:
        """``derive``: derive the hall, device, sequence and rollup state and the time-series
        lines at ingest (the single box); False on the JetStream bus, where ingest stores the
        keys and the stream's consumers derive the rest (:meth:`apply_stored`)."""
        self.derive = derive
        self.writer = writer
        self.hall = hall
        self.live = live
        self.devices = devices
        self.rollups = rollups
        self.bus = bus
        self.registry = registry
        self.clock = clock
        self.cfg = cfg
        self.counters = IngestCounters()
        self.lock = threading.Lock()
        self.tracker = SequenceTracker()
        self.streams: dict[StreamKey, StreamStats] = {}
        self._persisted: set[StreamKey] = set()
        self._site_emitted: dict[str, datetime] = {}
        self._last_prune: float | None = None
        self._pending_rollups: list[tuple[Envelope, float]] = []

    def _reload(self, db: Database) -> None:
        """Rebuild device and sequence state from SQL after a failed transaction."""
        try:
            with db.session() as session:
                if self.derive:
                    self.devices.load(session, self.registry.devices)
                self.streams.clear()
                self._persisted.clear()
                self.tracker = SequenceTracker()
                self.load(session)
        except Exception:
            log.exception("could not reload state from SQL after a failed batch")

    def load(self, session: Session, keys: set[StreamKey] | None = None) -> None:
        """Sequence streams as stored (``keys``: only those; a worker taking a partition over
        finds the streams its previous holder stored after this process loaded)."""
        query = select(SeqStream)
        if keys is not None and not keys:
            return
        if keys is not None:
            query = query.where(tuple_(SeqStream.site, SeqStream.source, SeqStream.epoch).in_(keys))
        for row in session.scalars(query):
            key = (row.site, row.source, row.epoch)
            self.streams[key] = StreamStats(
                row.highest_seq, row.received, row.gaps, row.missing, row.late, row.last_ts
            )
            self._persisted.add(key)
            self.tracker.observe(key, row.highest_seq)

    # ------------------------------------------------------------------ the batch

    def process(self, session_factory: Database, prepared: PreparedBatch) -> IngestOutcome:
        """Handle one prepared batch already authorised for ``prepared.header.site``."""
        batch = prepared.header
        results: list[Answer | None] = [None] * prepared.size
        for r in prepared.rejected:
            results[r.position] = ("rejected", r.message_id, r.reason)
        candidates = prepared.candidates
        if self.writer.overloaded:
            raise Overloaded("the InfluxDB spool is full; retry later")
        now = self.clock.now()
        clock = tuple(
            (r.source, r.ts, r.reason)
            for r in prepared.rejected
            if r.source is not None and r.ts is not None and r.reason.startswith("clock:")
        )
        bus_ctx = IngestContext(batch.site, batch.gateway, now, batch.backlog, batch.sent_at, clock)
        with self.lock:
            accepted: list[Candidate] = []
            n_lines = 0
            # First trust memory for messages above their stream's highest seq (no SQL lookups);
            # a unique-key conflict means memory was wrong: retry with every key looked up.
            for trust_memory in (True, False):
                self._pending_rollups = []
                try:
                    with session_factory.session() as session:
                        accepted = self._store(session, batch, candidates, results, now, trust_memory)
                        self._rows(session, accepted)
                        n_lines = self._domain(session, batch, accepted) if self.derive else 0
                        # On the bus before the commit: a bus that cannot store the batch
                        # aborts it, and the gateway resends (the bus drops repeated ids).
                        self.bus.store([c.message for c in accepted], bus_ctx)
                    break
                except Exception as exc:
                    # Nothing was stored: put the in-memory state back to what SQL holds.
                    self.rollups.rollback()
                    self._reload(session_factory)
                    if isinstance(exc, BusUnavailable):
                        raise Overloaded(f"the message bus did not store the batch: {exc}") from exc
                    if not isinstance(exc, IntegrityError):
                        raise
                    if not trust_memory:
                        raise Conflict("another server process stored part of this batch; resend it") from exc
                    self.counters.memory_conflicts += 1
            if self.derive:
                self._committed(bus_ctx, n_lines)
            else:
                self._remember(accepted)
            # Still under the lock, so subscribers see batches in commit order.
            self.bus.publish([c.message for c in accepted], bus_ctx)
        out: list[Answer] = [r if r is not None else ("rejected", None, "internal") for r in results]
        n_accepted = len(accepted)
        n_rejected = sum(1 for r in out if r[0] == "rejected")
        result = IngestOutcome(out, n_accepted, len(out) - n_accepted - n_rejected, n_rejected)
        c = self.counters
        c.batches += 1
        c.accepted += result.accepted
        c.duplicates += result.duplicates
        c.rejected += result.rejected
        return result

    def _store(
        self,
        session: Session,
        batch: IngestBatch,
        candidates: list[Candidate],
        results: list[Answer | None],
        now: datetime,
        trust_memory: bool,
    ) -> list[Candidate]:
        """Mark each candidate accepted or duplicate and insert the idempotency keys.

        With ``trust_memory``, a message above its stream's highest seq in memory is new
        without asking SQL (the common case: it saves two lookups per batch); the unique keys
        stay the backstop. Wills, late and resent messages are always looked up.
        """
        site = batch.site
        lookup = candidates
        if trust_memory:
            lookup = [c for c in candidates if not self._known_new(c.message)]
        existing_ids, existing_keys = stored_keys(session, site, [c.message for c in lookup])
        accepted: list[Candidate] = []
        received = sql_time(now)
        rows_out: list[tuple[object, ...]] = []
        for c in candidates:
            m = c.message
            key = (m.source, m.epoch, m.seq, m.is_will)
            if m.id in existing_ids or key in existing_keys:
                results[c.position] = ("duplicate", m.id, None)
                continue
            existing_ids.add(m.id)
            existing_keys.add(key)
            results[c.position] = ("accepted", m.id, None)
            accepted.append(c)
            rows_out.append(
                (m.id, site, m.source, m.epoch, m.seq, m.is_will, m.type, sql_time(m.ts), received)
            )
        if rows_out:
            insert_keys(session, rows_out)
        mono = self.clock.monotonic()
        if self._last_prune is None or mono - self._last_prune > 3600:
            self._last_prune = mono
            prune_received(session, now - timedelta(days=self.cfg.dedup_retention_days))
        return accepted

    def _committed(self, ctx: IngestContext, n_lines: int) -> None:
        """After a batch's derived state committed: rollups, the spool's count, the clock
        rejections (after the accepted messages: a clock wrong in this batch stays wrong), the
        listeners."""
        self.rollups.commit()
        for item, occupancy in self._pending_rollups:
            if isinstance(item, ZoneState):
                self.rollups.add_zone_state(item, occupancy)
            elif isinstance(item, WaitRecord):
                self.rollups.add_wait(item, occupancy)
        self.writer.spooled(n_lines)
        for source, stamped, reason in ctx.clock_rejections:
            self.hall.clock_rejected(ctx.site, source, stamped, reason)
        self.live.notify(ctx.site)

    def _remember(self, accepted: list[Candidate]) -> None:
        """Without ``derive``: keep each stream's highest seq only (the duplicate check's hint)."""
        for c in accepted:
            m = c.message
            if not m.is_will:
                stats = self.streams.setdefault((m.site, m.source, m.epoch), StreamStats(m.seq))
                stats.highest = max(stats.highest, m.seq)

    @staticmethod
    def _rows(session: Session, accepted: list[Candidate]) -> None:
        """The rows of one message each (tickets, visits): stored with the keys, wherever the
        rest is derived (a message is accepted once, by one process)."""
        for c in accepted:
            if isinstance(c.message, TicketEvent):
                add_ticket_event(session, c.message)
            elif isinstance(c.message, VisitRecord):
                store_visit(session, c.message)

    def apply_stored(self, db: Database, messages: Sequence[Envelope], ctx: IngestContext) -> None:
        """Derive a batch's state from the stream (the bus subscriber of the process whose alert
        engine consumes the site, before the engine): hall state, device episodes and faults,
        sequence statistics, rollups and their time-series lines (the writers write the
        messages' own lines). One SQL transaction; a failure puts memory back to SQL and raises."""
        backlog = ctx.backlog or Backlog(count=0, bytes=0, oldest_age_s=0.0)
        sent = ctx.sent_at or ctx.received_at
        header = IngestBatch(gateway=ctx.gateway, site=ctx.site, sent_at=sent, backlog=backlog, messages=[])
        with self.lock:
            self._pending_rollups = []
            try:
                with db.session() as session:
                    candidates = [Candidate(i, m, []) for i, m in enumerate(messages)]
                    n_lines = self._domain(session, header, candidates, stored_at=ctx.received_at)
            except Exception:
                self.rollups.rollback()
                self._reload(db)
                raise
            self._committed(ctx, n_lines)

    def _known_new(self, msg: Envelope) -> bool:
        """Above the highest seq this process has stored for its stream (or a new stream)."""
        if msg.is_will:
            return False
        stats = self.streams.get((msg.site, msg.source, msg.epoch))
        return stats is None or msg.seq > stats.highest

    def _sequence(self, msg: Envelope, touched: set[StreamKey]) -> None:
        if msg.is_will:
            return
        key = (msg.site, msg.source, msg.epoch)
        stats = self.streams.get(key)
        obs = self.tracker.observe(key, msg.seq)
        if stats is None:
            stats = self.streams[key] = StreamStats(highest=msg.seq)
        stats.received += 1
        if obs.verdict == Verdict.GAP:
            stats.gaps += 1
            stats.missing += obs.missing
        elif obs.verdict in (Verdict.LATE, Verdict.DUPLICATE):
            # DUPLICATE here means the tracker forgot the hole (restart); SQL said it is new.
            stats.late += 1
            stats.missing = max(0, stats.missing - 1)
        stats.highest = max(stats.highest, msg.seq)
        if stats.last_ts is None or msg.ts > stats.last_ts:
            stats.last_ts = msg.ts
        touched.add(key)

    def _domain(
        self,
        session: Session,
        batch: IngestBatch,
        accepted: list[Candidate],
        stored_at: datetime | None = None,
    ) -> int:
        """Apply the batch to the hall state and SQL; spool its lines (``stored_at``: a batch
        from the stream, stored then; its gateway and message lines are the writers')."""
        lines: list[str] = [] if stored_at else [gateway_line(batch)]
        self.hall.gateway_batch(batch.site, batch.gateway, batch.backlog, batch.sent_at, stored_at)
        touched: set[StreamKey] = set()
        if stored_at is not None:  # a partition taken over: the streams its last holder stored
            keys = {(c.message.site, c.message.source, c.message.epoch) for c in accepted}
            self.load(session, keys - self.streams.keys())
        site = batch.site
        limit = self.registry.wait_limit_s(site)
        for candidate in accepted:
            msg = candidate.message
            self._sequence(msg, touched)
            if isinstance(msg, _DEVICE_TYPES):
                dev = self.hall.hall(site).devices.get(msg.source)
                if dev is None:
                    vendor, kind = self.registry.identity(msg)
                    row = ensure_device(session, msg.site, msg.source, vendor)
                    dev = self.hall.device(site, msg.source, row.vendor, row.kind or kind)
                lines += self.devices.record(session, msg, dev, self.hall.apply(msg))
                lines += candidate.lines  # a heartbeat's vitals
            else:
                lines += candidate.lines
                self.hall.apply(msg)
                if isinstance(msg, ZoneState):
                    self._pending_rollups.append((msg, self.hall.occupancy(site)))
                elif isinstance(msg, WaitRecord):
                    self._pending_rollups.append((msg, limit))
            last = self._site_emitted.get(site)
            if last is None or (msg.ts - last).total_seconds() >= 1.0:
                self._site_emitted[site] = msg.ts
                occ, wait, working, total, serving = self.live.aggregates(site)
                lines.append(
                    site_line(
                        site,
                        msg.ts,
                        occupancy=occ,
                        kiosks_working=working,
                        kiosks_total=total,
                        expected_wait_s=wait,
                        counters_serving=serving,
                    )
                )
        if self.hall.sensing_live(site):
            lines += self.devices.expire(session, site)  # heartbeats that stopped
        self._persist_streams(session, touched)
        for key in touched:
            s = self.streams[key]
            assert s.last_ts is not None
            lines.append(stream_line(key[0], key[1], key[2], s.highest, s.gaps, s.missing, s.late, s.last_ts))
        lines += self.rollups.flush(session, sites=(site,))
        return self.writer.spool(session, lines)

    def _persist_streams(self, session: Session, touched: set[StreamKey]) -> None:
        new: list[tuple[object, ...]] = []
        changed: list[tuple[object, ...]] = []
        for key in touched:
            s = self.streams[key]
            assert s.last_ts is not None
            row = (s.highest, s.received, s.gaps, s.missing, s.late, sql_time(s.last_ts), *key)
            (changed if key in self._persisted else new).append(row)
            self._persisted.add(key)
        save_streams(session, new, changed)

    def flush_rollups(self, session_factory: Database) -> None:
        """Merge every open minute into SQL (before reports and forecasts, and at shutdown)."""
        with self.lock:
            try:
                with session_factory.session() as session:
                    n = self.writer.spool(session, self.rollups.flush(session, everything=True))
            except Exception:
                self.rollups.rollback()
                raise
            self.rollups.commit()
            self.writer.spooled(n)
