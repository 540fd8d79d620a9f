"""Everything one server process holds: built by :meth:`ServerContext.build`, started and stopped
by the app's lifespan (:func:`server.app.create_app`).

This is the one place that builds and starts the server's services; each is a typed field
(database, InfluxDB writer, device and live state, rollups, message bus, hall registry,
ingest pipeline and its helper processes, token cache, the hall downlink queue, the alert
service, the wait display for in-hall screens (:mod:`server.wait_display`), the monthly device
logs (:class:`~server.device_logs.MonthlyDeviceLogs`), the visit settling
(:class:`~server.visit_settle.VisitSettle`), and the Prometheus
registry that reads them all, :class:`~server.metrics.ServerMetrics`). Routes reach
it through ``app.state.ctx`` (:data:`server.api.deps.CtxDep`). See docs/server.md.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from lobbywatch.clock import Clock
from lobbywatch.config.site import SiteConfig, load_site_config
from lobbywatch.protocol.messages import Envelope
from server.alerts.channels import default_senders
from server.alerts.dispatch import Dispatcher
from server.alerts.faults import SqlOpenFaults
from server.alerts.forecast import ServerForecast
from server.alerts.outbox import Outbox, SqlOutbox
from server.alerts.service import AlertService
from server.alerts.store import SqlAlertStore
from server.bus import IngestContext, MessageBus, Subscriber, build_bus
from server.core.ack_links import links_for
from server.core.config import ServerSettings
from server.core.security import PrincipalCache
from server.device_logs import MonthlyDeviceLogs
from server.devices import DeviceTracker
from server.downlink import DownlinkQueue
from server.hall_state import HallState
from server.ingest import IngestPipeline
from server.ingest_workers import PrepareWorkers
from server.live import LiveState
from server.metrics import ServerMetrics
from server.registry import SiteRegistry
from server.roles import ServerRole
from server.rollups import Rollups
from server.storage.db import Database, run_migrations
from server.storage.models import Device
from server.storage.repo import bootstrap_tokens, sync_sites
from server.timeseries.writer import InfluxWriter
from server.visit_settle import VisitSettle
from server.wait_display import WaitDisplay, hall_downlink

if TYPE_CHECKING:
    from server.alerts_api import AlertsApi
    from server.bus_roles import RoleFeeds

log = logging.getLogger(__name__)

ALERT_TICK_S = 1.0


@dataclass
class ServerContext:
    """The services of one server process.

    ``alerts`` is the running :class:`AlertService` between :meth:`start` and :meth:`stop`
    (None before, after, in a process without the worker role, and in a context built
    ``with_alerts=False``: the in-process ingest benchmark measures the pipeline alone).

    On the JetStream bus (docs/distributed.md, "Roles") ingest derives nothing: ``hall`` is the
    alert worker's, fed by ``domain`` (the derived state of its sites, from the stream, before
    its engine), ``live`` reads a hall state of its own fed with every site by the API's live
    feed, and ``feeds`` holds the roles' consumers (writers, live feed, alert events).
    """

    settings: ServerSettings
    clock: Clock
    db: Database
    writer: InfluxWriter
    hall: HallState
    devices: DeviceTracker
    live: LiveState
    rollups: Rollups
    bus: MessageBus
    registry: SiteRegistry
    pipeline: IngestPipeline
    prepare: PrepareWorkers
    principals: PrincipalCache
    metrics: ServerMetrics
    downlink: DownlinkQueue
    with_alerts: bool = True
    alerts: AlertService | None = field(default=None)
    waits: WaitDisplay | None = field(default=None)
    device_logs: MonthlyDeviceLogs | None = field(default=None)
    settle: VisitSettle | None = field(default=None)
    domain: IngestPipeline | None = field(default=None)
    feeds: RoleFeeds | None = field(default=None)
    started: bool = field(default=False)

    @classmethod
    def build(cls, settings: ServerSettings, clock: Clock, *, with_alerts: bool = True) -> ServerContext:
        """Build every service (nothing runs and nothing is read from SQL until :meth:`start`)."""
        db = Database(settings.sql_url)
        writer = InfluxWriter(db, settings.influx, clock)
        stream = settings.bus.kind == "jetstream"
        hall = HallState(clock)
        devices = DeviceTracker(hall)
        live = LiveState(HallState(clock) if stream else hall, clock, settings.ingest)
        rollups = Rollups()
        bus = build_bus(settings.bus)
        registry = SiteRegistry()

        def pipeline_on(live: LiveState, derive: bool) -> IngestPipeline:
            return IngestPipeline(
                writer=writer,
                hall=hall,
                live=live,
                devices=devices,
                rollups=rollups,
                bus=bus,
                registry=registry,
                clock=clock,
                cfg=settings.ingest,
                derive=derive,
            )

        pipeline = pipeline_on(live, derive=not stream)
        prepare = PrepareWorkers(settings.ingest.resolved_prepare_workers())
        principals = PrincipalCache(clock)
        ctx = cls(
            settings,
            clock,
            db,
            writer,
            hall,
            devices,
            live,
            rollups,
            bus,
            registry,
            pipeline,
            prepare,
            principals,
            ServerMetrics(),
            DownlinkQueue(db, clock),
            with_alerts=with_alerts,
        )
        if stream and settings.has_role(ServerRole.WORKER):
            ctx.domain = pipeline_on(LiveState(hall, clock, settings.ingest), derive=True)
        ctx.metrics.watch(ctx)
        return ctx

    def start(self) -> None:
        """Migrate the schema, load halls and tokens, restore state, start the writer, then the
        alert service (on the loaded halls, subscribed to the bus) and the monthly device logs."""
        if self.started:
            return
        run_migrations(self.db)
        configs = [load_site_config(p) for p in self.settings.halls]
        for cfg in configs:
            self.registry.configs[cfg.site] = cfg
        self.hall.set_configs(self.registry.configs)
        if self.live.hall is not self.hall:  # the API's own hall state reads the same halls
            self.live.hall.set_configs(self.registry.configs)
        with self.db.session() as session:
            sync_sites(session, configs)
            created = bootstrap_tokens(session, self.settings.bootstrap_tokens, self.clock.now())
            if created:
                log.info("created %d bootstrap tokens", created)
            for dev in session.scalars(select(Device)):
                self.registry.devices[(dev.site, dev.id)] = (dev.vendor, dev.kind or "")
            self.devices.load(session, self.registry.devices)
            self.pipeline.load(session)
            if self.domain is not None:
                self.domain.load(session)
            if self.live.hall is not self.hall:  # the API's own hall state: devices as stored
                DeviceTracker(self.live.hall).load(session, self.registry.devices)
        self.bus.start()  # first: a bus that cannot start (NATS unreachable) leaves nothing running
        self.downlink.open_halls(self.registry.configs)
        self.prepare.start(self.registry.wait_limits(), self.settings.ingest.dedup_retention_days)
        if self.settings.bus.kind == "jetstream":
            self._start_feeds()
        if self.settings.bus.kind == "inprocess" or self.settings.has_role(ServerRole.WRITER):
            self.writer.start()  # drains the spool (a worker's derived lines; the engine's points)
        if self.with_alerts and self.settings.has_role(ServerRole.WORKER):
            self.alerts = self._start_alerts()
            if self.feeds is not None:
                self.feeds.start_worker(self.alerts, self._owns)
        if self.settings.has_role(ServerRole.API):
            self.waits = WaitDisplay(
                self.live, self.registry.configs, self.clock, hall_downlink(self.downlink)
            )
            self.waits.start()
        if self.settings.has_role(ServerRole.WORKER):  # a scheduled job: not in every replica
            self.device_logs = MonthlyDeviceLogs(self.db, self.clock, self.registry.configs)
            self.device_logs.start()
            self.settle = VisitSettle(self.db, self.writer, self.clock, self.registry.wait_limit_s)
            self.settle.start()  # derived state: final customers' points (server/visit_settle.py)
        self.started = True

    @property
    def deriving(self) -> IngestPipeline:
        """The pipeline that derives sequence statistics and rollups in this process: ingest's
        on the single box, the worker's on the JetStream bus (its sites only)."""
        return self.domain or self.pipeline

    def _start_feeds(self) -> None:
        """The JetStream bus's role feeds (nats-py is imported only here and in the bus)."""
        from server.bus_roles import RoleFeeds

        self.feeds = RoleFeeds(self)
        self.feeds.start()

    def _owns(self, site: str) -> bool:
        """Whether this process's engine handles ``site`` now (it holds the site's partition
        with a fresh lease; the in-process bus: always)."""
        return self.bus.holds(site)

    def alerts_api(self) -> AlertsApi | None:
        """What the alert routes read and change: on the JetStream bus an API replica's
        :class:`~server.bus_events.RemoteAlerts` (the same in every replica), else the engine."""
        if self.feeds is not None and self.feeds.remote_alerts is not None:
            return self.feeds.remote_alerts
        return self.alerts

    def _start_alerts(self) -> AlertService:
        """The alert service on this server's halls, SQL store, forecast, writer and clock,
        subscribed to the bus until it stops (one per context: two engines on one store would
        raise every alert twice). On JetStream, only for the halls of the partitions this
        process holds (:mod:`server.alerts.partitions`)."""
        writer = self.writer

        def write_points(points: list[Any]) -> None:
            writer.enqueue([p.to_line_protocol() for p in points])

        store = SqlAlertStore(self.db.engine)
        senders = default_senders(self.clock, self.downlink, links=links_for(self.settings.ack_links))

        def build(sites: list[SiteConfig], outbox: Outbox, **worker: Any) -> AlertService:
            return AlertService(
                sites,
                clock=self.clock,
                store=store,
                dispatcher=Dispatcher(clock=self.clock, store=store, senders=senders, outbox=outbox),
                forecast=ServerForecast(self.db, self.clock),
                write_points=write_points,
                tick_s=ALERT_TICK_S,
                faults=SqlOpenFaults(self.db),
                **worker,
            )

        outbox = SqlOutbox(self.db.engine)
        if self.settings.bus.kind == "jetstream":  # a worker: the halls of the partitions it holds
            from server.alerts.partitions import partitioned_service

            service = partitioned_service(self.bus, self.registry.configs, outbox, self.clock, build)
        else:
            service = build(list(self.registry.configs.values()), outbox, hall=self.hall)
        service.on_stop(self.bus.subscribe(self._worker_batch(service)))
        service.start()
        log.info("alert engine started for %d halls", len(self.registry.configs))
        return service

    def _worker_batch(self, service: AlertService) -> Subscriber:
        """The bus subscriber of the alert service; a worker's derived state (its sites') goes
        first, in the same call: the JetStream bus starts taking partitions and delivering with
        its first subscriber, so two subscriptions would let batches reach (and be acknowledged
        by) the derived state alone, and partitions be taken before the engine's hooks."""
        domain, db, bus = self.domain, self.db, self.bus
        if domain is None:
            return service.on_batch

        def on_batch(messages: Sequence[Envelope], ctx: IngestContext) -> None:
            try:
                if ctx.by_hand:  # a counter page's state: the hall state only, as on the single box
                    with domain.lock:
                        for message in messages:
                            domain.hall.apply(message)
                else:
                    domain.apply_stored(db, messages, ctx)
            except Exception:  # the engine still gets the batch
                bus.errors += 1
                log.exception("the derived state failed on a batch from %s", ctx.gateway)
            service.on_batch(messages, ctx)

        return on_batch

    def stop(self) -> None:
        """Stop the alert service, flush open rollup minutes, stop the helpers, the writer and SQL."""
        if not self.started:
            return
        if self.alerts is not None:
            self.alerts.stop()
            self.alerts = None
        if self.waits is not None:
            self.waits.stop()
            self.waits = None
        if self.device_logs is not None:
            self.device_logs.stop()
            self.device_logs = None
        if self.settle is not None:
            self.settle.stop()
            self.settle = None
        try:
            self.deriving.flush_rollups(self.db)
        except Exception:
            log.exception("could not flush rollups at shutdown")
        if self.feeds is not None:
            self.feeds.stop()
            self.feeds = None
        self.bus.stop()
        self.prepare.stop()
        self.writer.stop()
        self.db.dispose()
        self.started = False
