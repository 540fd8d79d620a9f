"""The gateway daemon: intake (broker -> outbox, with delivery receipts), forwarder (outbox ->
server), downlink (server -> broker), health server, and, where the hall file turns them on,
the ticket endpoint and the wall page for in-hall displays (docs/gateway.md)."""

from __future__ import annotations

import json
import logging
import random
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from gateway.downlink import Downlink, DownlinkSettings
from gateway.forwarder import Forwarder, ForwarderSettings
from gateway.health import HealthServer
from gateway.intake import Intake
from gateway.outbox import GatewayOutbox
from gateway.receipts import ReceiptBook
from gateway.stats import Stats
from gateway.tickets_http import TicketIntake, TicketServer, ticket_token_of
from gateway.wall_http import WallServer
from lobbywatch.clock import Clock, SystemClock
from lobbywatch.config.site import BrokerConfig, SiteConfig
from lobbywatch.web.layout import hall_layout

log = logging.getLogger("lobbywatch.gateway")

_Server = TypeVar("_Server", TicketServer, WallServer, HealthServer)


class GatewaySetupError(ValueError):
    """The gateway cannot start with the settings given (the message says why, zh-CN and en)."""


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """Everything the gateway needs, resolved from the hall config and command-line overrides."""

    site: str
    gateway_id: str
    broker: BrokerConfig
    server_url: str
    token: str
    outbox: Path
    max_disk_bytes: int
    batch_max: int = 500
    batch_age_s: float = 0.2
    health_port: int = 9108
    health_host: str = "127.0.0.1"
    request_timeout_s: float = 10.0
    retry_initial_s: float = 0.5
    retry_max_s: float = 60.0
    server_ca_file: Path | None = None
    ticket_port: int = 0
    ticket_host: str = "0.0.0.0"
    ticket_token: str | None = None
    downlink_wait_s: float = 25.0
    wall_port: int = 0
    wall_host: str = "0.0.0.0"
    #: The hall's layout as JSON for the wall page (:func:`lobbywatch.web.layout.hall_layout`).
    wall_layout: str | None = None

    @property
    def client_id(self) -> str:
        return f"lobbywatch-gw-{self.site}-{self.gateway_id}"

    @classmethod
    def from_config(
        cls,
        cfg: SiteConfig,
        *,
        broker: BrokerConfig | None = None,
        server_url: str | None = None,
        token_file: Path | None = None,
        outbox: Path | None = None,
    ) -> GatewaySettings:
        """Settings from the hall configuration's ``gateway`` section, with the command line's
        overrides (broker, server URL, token file, outbox) where given. Reads the token now, so a
        missing, unreadable or empty token file fails here with a :class:`GatewaySetupError`.
        """
        g = cfg.gateway
        token_path = token_file or g.token_file
        if token_path is None:
            raise GatewaySetupError(
                "没有网关令牌：请在配置 gateway.token_file 或用 --token-file 指定。 / "
                "No gateway token: set gateway.token_file in the hall config or pass --token-file."
            )
        try:
            token = token_path.read_text().strip()
        except OSError as exc:
            raise GatewaySetupError(
                f"无法读取网关令牌文件 {token_path}：{exc.strerror} / "
                f"Cannot read the gateway token file {token_path}: {exc.strerror}"
            ) from None
        if not token:
            raise GatewaySetupError(
                f"网关令牌文件 {token_path} 为空 / The gateway token file {token_path} is empty"
            )
        try:
            ticket_token = ticket_token_of(g.tickets)
        except ValueError as exc:
            raise GatewaySetupError(str(exc)) from None
        return cls(
            site=cfg.site,
            gateway_id=g.id,
            broker=broker or cfg.broker,
            server_url=server_url or g.server_url,
            token=token,
            outbox=outbox or g.outbox,
            max_disk_bytes=int(g.max_disk_mb * 1024 * 1024),
            batch_max=g.batch_max,
            batch_age_s=g.batch_age_s,
            health_port=g.health_port,
            request_timeout_s=g.request_timeout_s,
            retry_initial_s=g.retry_initial_s,
            retry_max_s=g.retry_max_s,
            server_ca_file=g.server_ca_file,
            ticket_port=g.tickets.port,
            ticket_host=g.tickets.host,
            ticket_token=ticket_token,
            downlink_wait_s=g.downlink_wait_s,
            wall_port=g.wall_port,
            wall_host=g.wall_host,
            wall_layout=json.dumps(hall_layout(cfg), ensure_ascii=False),
        )

    def with_(self, **changes: Any) -> GatewaySettings:
        return replace(self, **changes)


class Gateway:
    """The running gateway. ``start()`` returns at once; ``stop()`` shuts down in order."""

    def __init__(
        self,
        settings: GatewaySettings,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """Open the outbox and build the forwarder, the intake (which wakes the forwarder on each
        commit), the downlink and the local HTTP servers whose ports are set (health, tickets,
        wall page); nothing runs until :meth:`start`. An outbox that cannot be opened or a port
        in use raise :class:`GatewaySetupError`.
        """
        self.settings = settings
        self.clock = clock or SystemClock()
        self.stats = Stats(self.clock)
        try:
            self.outbox = GatewayOutbox(settings.outbox, settings.max_disk_bytes)
            self.receipts = ReceiptBook(settings.outbox)
        except (sqlite3.Error, OSError) as exc:
            raise GatewaySetupError(
                f"无法打开发件箱 {settings.outbox}：{exc} / Cannot open the outbox {settings.outbox}: {exc}"
            ) from None
        self.forwarder = Forwarder(
            ForwarderSettings(
                gateway_id=settings.gateway_id,
                site=settings.site,
                server_url=settings.server_url,
                token=settings.token,
                batch_max=settings.batch_max,
                batch_age_s=settings.batch_age_s,
                request_timeout_s=settings.request_timeout_s,
                retry_initial_s=settings.retry_initial_s,
                retry_max_s=settings.retry_max_s,
                server_ca_file=settings.server_ca_file,
            ),
            self.outbox,
            self.stats,
            self.clock,
            rng or random.Random(),
            self.backlog_json,
        )
        self.intake = Intake(
            site=settings.site,
            client_id=settings.client_id,
            broker=settings.broker,
            outbox=self.outbox,
            stats=self.stats,
            clock=self.clock,
            receipts=self.receipts,
            gateway_id=settings.gateway_id,
            on_commit=self.forwarder.notify,
        )
        self.tickets: TicketServer | None = None
        self.wall: WallServer | None = None
        if settings.ticket_port and settings.ticket_token:
            intake = TicketIntake(settings.site, self.outbox, self.stats, self.clock, self.forwarder.notify)
            token = settings.ticket_token
            self.tickets = self._listen(
                lambda: TicketServer(settings.ticket_host, settings.ticket_port, token, intake),
                f"取号端口 {settings.ticket_port}",
                f"Ticket port {settings.ticket_port}",
            )
        if settings.wall_port:
            self.wall = self._listen(
                lambda: WallServer(
                    settings.wall_host, settings.wall_port, settings.site, settings.wall_layout
                ),
                f"大屏页面端口 {settings.wall_port}",
                f"Wall page port {settings.wall_port}",
            )
        self.downlink = Downlink(
            DownlinkSettings(
                site=settings.site,
                server_url=settings.server_url,
                token=settings.token,
                position_file=settings.outbox.with_name(settings.outbox.name + ".downlink"),
                wait_s=settings.downlink_wait_s,
                request_timeout_s=settings.request_timeout_s,
                retry_initial_s=settings.retry_initial_s,
                retry_max_s=settings.retry_max_s,
                server_ca_file=settings.server_ca_file,
            ),
            self.intake.session,
            rng or random.Random(),
        )
        self.health: HealthServer | None = None
        if settings.health_port:
            self.health = self._listen(
                lambda: HealthServer(settings.health_host, settings.health_port, self.snapshot),
                f"健康检查端口 {settings.health_port}",
                f"Health port {settings.health_port}",
            )

    def _listen(self, make: Callable[[], _Server], what_zh: str, what_en: str) -> _Server:
        """``make()`` a local HTTP server (it binds its port now); on failure close what is
        already open and raise :class:`GatewaySetupError` saying which port (zh-CN and en)."""
        try:
            return make()
        except OSError as exc:
            for bound in (self.tickets, self.wall):
                if bound is not None:  # bound, never started: close the socket only
                    bound.server.server_close()
            self.outbox.close()
            self.receipts.close()
            raise GatewaySetupError(
                f"{what_zh} 无法使用：{exc.strerror} / {what_en} is not usable: {exc.strerror}"
            ) from None

    def backlog(self) -> dict[str, Any]:
        """The outbox now, in the shape of :class:`lobbywatch.protocol.ingest.Backlog`."""
        b = self.outbox.backlog()
        age = 0.0
        if b.oldest_received_at is not None:
            age = max(0.0, self.clock.now().timestamp() - b.oldest_received_at)
        return {
            "count": b.count,
            "bytes": b.bytes,
            "oldest_age_s": round(age, 3),
            "shed": b.shed,
            "quarantined": b.quarantined,
        }

    def backlog_json(self) -> str:
        return json.dumps(self.backlog())

    def snapshot(self) -> dict[str, Any]:
        """What /healthz shows."""
        s = self.stats
        healthy = s.mqtt_connected and s.last_send_error is None
        return {
            "status": "ok" if healthy else "degraded",
            "site": self.settings.site,
            "gateway": self.settings.gateway_id,
            "mqtt_connected": s.mqtt_connected,
            "mqtt_subscribed": s.mqtt_subscribed,
            "backlog": self.backlog(),
            "forwarded_per_s": round(s.forwarded_per_s(), 2),
            "received": s.received,
            "stored": s.stored,
            "local_duplicates": s.local_duplicates,
            "ignored": s.ignored,
            "forwarded": s.forwarded,
            "server_duplicates": s.server_duplicates,
            "rejected_by_server": s.rejected_by_server,
            "quarantined_by_reason": self.outbox.backlog().quarantined_by_reason,
            "batches": s.batches,
            "retries": s.retries,
            "last_send_error": s.last_send_error,
            "downlink": self.downlink.snapshot(),
        }

    def start(self) -> None:
        if self.health is not None:
            self.health.start()
        self.forwarder.start()
        self.intake.start()
        if self.tickets is not None:
            self.tickets.start()
        if self.wall is not None:
            self.wall.start()
        self.downlink.start()
        log.info(
            "gateway %s for site %s: broker %s:%s -> %s (outbox %s)",
            self.settings.gateway_id,
            self.settings.site,
            self.settings.broker.host,
            self.settings.broker.port,
            self.settings.server_url,
            self.settings.outbox,
        )

    def stop(self) -> None:
        if self.tickets is not None:
            self.tickets.stop()
        if self.wall is not None:
            self.wall.stop()
        self.downlink.stop()
        self.intake.stop()
        self.forwarder.stop()
        if self.health is not None:
            self.health.stop()
        self.receipts.close()
        self.outbox.close()
