"""The alert engine of a worker that holds some partitions of the bus (docs/distributed.md,
"Workers").

:class:`PartitionEngine` is the engine whose halls come and go with the partitions held;
:class:`PartitionedAlerts` is the bus's :class:`server.bus_partitions.PartitionHooks` for it.
Taking a partition: its halls' state from the snapshot (:mod:`server.alerts.snapshot`), the
batches the previous owner handled replayed on a side engine with no store, notifier or
listeners (nothing is stored or sent twice), then moved into the live engine and reconciled
with the alerts SQL has open (the record of what was raised). No snapshot: the halls start as
at a restart, from SQL. The notifications left pending in the outbox (by the previous owner,
or held back by the fence, :class:`server.alerts.service.Fenced`) are resumed for those halls
only; a worker resumes none at start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from lobbywatch.clock import Clock
from lobbywatch.config.site import SiteConfig
from server.alerts.dispatch import Dispatcher
from server.alerts.engine import AlertEngine
from server.alerts.outbox import Outbox
from server.alerts.service import AlertService, feed
from server.alerts.site import SiteState
from server.alerts.snapshot import dump_sites, load_sites
from server.alerts.store import AlertStore
from server.bus import MessageBus
from server.bus_jetstream import partition_of
from server.bus_partitions import Batch

log = logging.getLogger(__name__)


class PartitionEngine(AlertEngine):
    """An :class:`AlertEngine` whose halls are added and dropped at run time (under its lock)."""

    def state(self, site: str) -> SiteState | None:
        return self._sites.get(site)

    def adopt(self, state: SiteState) -> None:
        """Evaluate a hall from a state built elsewhere (a snapshot and its replay)."""
        with self._lock:
            self._sites[state.cfg.site] = state
            self._configs[state.cfg.site] = state.cfg

    def drop(self, site: str) -> None:
        """Stop evaluating a hall (another worker has its partition)."""
        with self._lock:
            self._sites.pop(site, None)
            self._configs.pop(site, None)

    def snapshot(self, sites: Sequence[str]) -> bytes:
        """The state of ``sites`` (those evaluated here), consistent under the engine's lock."""
        with self._lock:
            states = {s: st for s in sites if (st := self._sites.get(s)) is not None}
            return dump_sites(self.hall, states)

    def restore(self, blob: bytes, configs: Mapping[str, SiteConfig]) -> list[str]:
        """Evaluate the halls of a snapshot (with today's ``configs``); the sites restored."""
        with self._lock:
            states = load_sites(blob, self.hall, configs)
            for state in states:
                self.adopt(state)
            return [s.cfg.site for s in states]


def reconcile(engine: PartitionEngine, store: AlertStore, site: str) -> None:
    """SQL is the record of what was raised: its open alerts replace the replayed ones (same
    id, acknowledgement, escalation), and a replayed alert SQL does not have open is dropped
    with its condition (it was resolved, or never stored hence never sent)."""
    state = engine.state(site)
    if state is None:
        return
    recorded = {(a.kind, a.subject): a for a in store.open_alerts(site)}
    for key in [k for k in state.lifecycle.open if k not in recorded]:
        del state.lifecycle.open[key]
        state.lifecycle.conds.pop(key, None)
    for alert in recorded.values():
        state.lifecycle.replace(alert)


class PartitionedAlerts:
    """The alert service's side of :class:`server.bus_partitions.PartitionHooks`."""

    def __init__(
        self,
        engine: PartitionEngine,
        store: AlertStore,
        dispatcher: Dispatcher,
        configs: Mapping[str, SiteConfig],
        partitions: int,
        side_engine: Callable[[], PartitionEngine],
    ) -> None:
        """``side_engine``: a new engine with no store, notifier or listeners (for replays)."""
        self.engine, self.store, self.dispatcher = engine, store, dispatcher
        self.configs = configs
        self.partitions = partitions
        self.side_engine = side_engine

    def sites(self, partition: int) -> list[str]:
        return [s for s in self.configs if partition_of(s, self.partitions) == partition]

    def take(self, partition: int, snapshot: bytes | None, replay: Sequence[Batch]) -> None:
        sites = self.sites(partition)
        restored: list[str] = []
        if snapshot is not None:
            try:
                side = self.side_engine()
                side.restore(snapshot, self.configs)
                for messages, ctx in replay:
                    feed(side, messages, ctx)
                restored = self.engine.restore(side.snapshot(sites), self.configs)
            except Exception:  # an unreadable snapshot: the halls start from SQL, as at a restart
                log.exception("partition %d: snapshot not usable, starting from SQL", partition)
                restored = []
        for site in sites:
            if site in restored:
                reconcile(self.engine, self.store, site)
            else:
                self.engine.set_site(self.configs[site])
        resumed = self.dispatcher.resume(self.configs, only=sites)
        log.info(
            "partition %d: %d halls (%d from the snapshot, %d batches replayed), %d notifications resumed",
            partition,
            len(sites),
            len(restored),
            len(replay),
            resumed,
        )

    def snapshot(self, partition: int) -> bytes | None:
        return self.engine.snapshot(self.sites(partition))

    def drop(self, partition: int) -> None:
        for site in self.sites(partition):
            self.engine.drop(site)


def partitioned_service(
    bus: MessageBus,
    configs: Mapping[str, SiteConfig],
    outbox: Outbox,
    clock: Clock,
    build: Callable[..., AlertService],
) -> AlertService:
    """The alert service of a worker on the JetStream ``bus``: no halls until it takes
    partitions, its own hall state fed from them, notifications fenced by the leases, the
    outbox resumed per partition taken. ``build(sites, outbox, **options)`` makes the service."""
    from server.bus_jetstream import JetStreamBus

    assert isinstance(bus, JetStreamBus)
    service = build([], outbox, hall=None, engine_type=PartitionEngine, fence=bus.holds)
    engine = service.engine
    assert isinstance(engine, PartitionEngine)
    bus.serve(
        PartitionedAlerts(
            engine,
            service.store,
            service.dispatcher,
            configs,
            bus.cfg.partitions,
            lambda: PartitionEngine([], clock=clock),
        )
    )
    return service
