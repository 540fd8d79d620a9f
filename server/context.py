"""Everything one server process holds, wired together; started and stopped by the app's lifespan.

Other server parts reach these through ``app.state``: ``bus`` (:class:`MessageBus`, the
alert engine's hook), ``live`` (:class:`LiveState`), ``db`` (:class:`Database`), ``influx``
(:class:`InfluxWriter`, whose :meth:`~InfluxWriter.enqueue` writes durable lines),
``prepare`` (:class:`PrepareWorkers`, the stateless half of ingest, in helper processes),
``registry`` (hall configurations), ``clock`` and ``ctx`` (this object).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import select

from lobbywatch.clock import Clock
from lobbywatch.config.site import load_site_config
from server.bus import MessageBus
from server.core.config import ServerSettings
from server.core.security import PrincipalCache
from server.devices import DeviceTracker
from server.ingest import IngestPipeline
from server.ingest_workers import PrepareWorkers
from server.live import LiveState
from server.registry import SiteRegistry
from server.rollups import Rollups
from server.storage.db import Database, run_migrations
from server.storage.models import Device
from server.storage.repo import bootstrap_tokens, sync_sites
from server.timeseries.writer import InfluxWriter

log = logging.getLogger(__name__)


@dataclass
class ServerContext:
    settings: ServerSettings
    clock: Clock
    db: Database
    writer: InfluxWriter
    devices: DeviceTracker
    live: LiveState
    rollups: Rollups
    bus: MessageBus
    registry: SiteRegistry
    pipeline: IngestPipeline
    prepare: PrepareWorkers
    principals: PrincipalCache
    started: bool = field(default=False)

    @classmethod
    def build(cls, settings: ServerSettings, clock: Clock) -> ServerContext:
        db = Database(settings.sql_url)
        writer = InfluxWriter(db, settings.influx, clock)
        devices = DeviceTracker()
        live = LiveState(devices, clock, settings.ingest)
        rollups = Rollups()
        bus = MessageBus()
        registry = SiteRegistry()
        pipeline = IngestPipeline(
            writer=writer,
            live=live,
            devices=devices,
            rollups=rollups,
            bus=bus,
            registry=registry,
            clock=clock,
            cfg=settings.ingest,
        )
        prepare = PrepareWorkers(settings.ingest.resolved_prepare_workers())
        principals = PrincipalCache(clock)
        return cls(
            settings, clock, db, writer, devices, live, rollups, bus, registry, pipeline, prepare, principals
        )

    def start(self) -> None:
        """Migrate the schema, load halls and tokens, restore state, start the writer."""
        if self.started:
            return
        run_migrations(self.db)
        configs = [load_site_config(p) for p in self.settings.halls]
        for cfg in configs:
            self.registry.configs[cfg.site] = cfg
        with self.db.session() as session:
            sync_sites(session, configs)
            created = bootstrap_tokens(session, self.settings.bootstrap_tokens, self.clock.now())
            if created:
                log.info("created %d bootstrap tokens", created)
            for dev in session.scalars(select(Device)):
                self.registry.devices[(dev.site, dev.id)] = (dev.vendor, dev.kind or "")
            self.devices.load(session, self.registry.devices)
            self.pipeline.load(session)
        self.prepare.start(self.registry.wait_limits())
        self.writer.start()
        self.started = True

    def stop(self) -> None:
        if not self.started:
            return
        try:
            self.pipeline.flush_rollups(self.db)
        except Exception:
            log.exception("could not flush rollups at shutdown")
        self.prepare.stop()
        self.writer.stop()
        self.db.dispose()
        self.started = False
