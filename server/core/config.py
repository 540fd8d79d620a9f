"""Server settings: one YAML file (``lobbywatch server run --config SERVER.yaml``).

Loaded with :func:`lobbywatch.config.loader.load_yaml_model`, so every mistake is reported
with its file, line and field path. Relative paths in the file are relative to the file.
A few settings may be overridden from the environment (``LOBBYWATCH_SERVER_SQL_URL``,
``LOBBYWATCH_SERVER_INFLUX_URL``, ``LOBBYWATCH_SERVER_INFLUX_TOKEN``; :data:`ENV_OVERRIDES`),
which is what container deployments usually want; they are validated like the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from lobbywatch.config.loader import Loc, load_yaml_model
from lobbywatch.protocol.fields import Identifier
from lobbywatch.protocol.ingest import MAX_BATCH_BYTES
from server.roles import ALL_ROLES, ServerRole

Role = Literal["admin", "manager", "vendor", "display", "gateway", "guide", "counter"]


def check_role_binding(role: Role, sites: list[str], vendor: str | None, counter: str | None = None) -> None:
    """What a token of ``role`` must be bound to; raises ValueError saying what is missing.
    A guide is bound to one hall; a counter token to one hall and one counter of it."""
    if role in ("display", "gateway", "guide", "counter") and len(sites) != 1:
        raise ValueError(f"a {role} token is bound to exactly one site")
    if role == "manager" and not sites:
        raise ValueError("a manager token needs at least one site")
    if role == "vendor" and vendor is None:
        raise ValueError("a vendor token needs its vendor id")
    if (role == "counter") != (counter is not None):
        raise ValueError("a counter token, and only a counter token, names its counter")


ROLES: tuple[Role, ...] = ("admin", "manager", "vendor", "display", "gateway", "guide", "counter")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ListenConfig(_Model):
    host: str = Field(default="127.0.0.1", min_length=1, description="Address to listen on.")
    port: int = Field(default=8000, ge=0, le=65535, description="TCP port (0: any free port).")
    access_log: bool = Field(
        default=False,
        description="Log every HTTP request (gateways post every second; errors are logged either way).",
    )


class InfluxConfig(_Model):
    """Where time series go: any InfluxDB serving the v1 HTTP API (/write, /query)."""

    url: str = Field(default="http://127.0.0.1:8086", pattern=r"^https?://", description="Base URL.")
    database: str = Field(
        default="lobbywatch", min_length=1, max_length=64, description="Database (2.x: bucket)."
    )
    token: str | None = Field(
        default=None, max_length=512, description="2.x/3.x token for the v1-compatibility API."
    )
    token_file: Path | None = Field(default=None, description="File holding the token instead.")
    create_database: bool = Field(
        default=True, description="Run CREATE DATABASE at start-up (1.x; harmless when it exists)."
    )
    batch_lines: int = Field(default=20_000, ge=1, le=500_000, description="Lines per /write.")
    flush_interval_s: float = Field(default=0.5, gt=0, le=60, description="Idle flush interval.")
    linger_s: float = Field(
        default=0.2,
        ge=0,
        le=10,
        description=(
            "After a write, wait this long for more lines unless a full batch_lines chunk is "
            "already waiting: fewer, larger writes under load (0: write each batch at once)."
        ),
    )
    timeout_s: float = Field(default=10, gt=0, le=300, description="HTTP timeout per request.")
    max_retry_s: float = Field(default=30, gt=0, le=3600, description="Longest retry back-off.")
    max_spool_lines: int = Field(
        default=5_000_000,
        ge=1000,
        description="Lines waiting in the spool above which ingest answers 503 (back-pressure).",
    )
    enabled: bool = Field(default=True, description="Write to InfluxDB at all (off: spool only).")

    def resolved_token(self) -> str | None:
        if self.token is not None:
            return self.token
        if self.token_file is not None:
            return self.token_file.read_text(encoding="utf-8").strip()
        return None


class IngestConfig(_Model):
    max_body_bytes: int = Field(
        default=MAX_BATCH_BYTES, ge=1024, le=256 * 1024 * 1024, description="Largest batch body."
    )
    dedup_retention_days: float = Field(
        default=14,
        gt=0,
        le=3650,
        description=(
            "Received-message records (the idempotency keys) are pruned after this many days; "
            "a gateway never resends older messages."
        ),
    )
    delayed_backlog_age_s: float = Field(
        default=30, gt=0, description="Gateway backlog older than this marks the site's data delayed."
    )
    prepare_workers: int | None = Field(
        default=None,
        ge=0,
        le=64,
        description=(
            "Helper processes that parse, validate and format ingest batches, so that ingest "
            "uses more than one core. Unset: one less than the machine's cores, at most 4 "
            "(none on a one-core machine); 0: all in the server process. See docs/server.md."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _no_absent_after_s(cls, data: object) -> object:
        """Server files written before the one silence limit: say where the setting went."""
        if isinstance(data, dict) and "absent_after_s" in data:
            raise ValueError(
                "ingest.absent_after_s was removed: a hall's data is absent when its gateway has "
                "sent nothing for the hall file's notifications.policy.gateway_silence_s, the "
                "limit the gateway-silence alert uses (docs/server.md); delete the line / "
                "ingest.absent_after_s 已移除：营业厅网关超过营业厅配置中 "
                "notifications.policy.gateway_silence_s 未上报即视为无数据"
                "（与网关静默告警同一限值），请删除此行"
            )
        return data

    def resolved_prepare_workers(self) -> int:
        """``prepare_workers``, with the automatic choice made for this machine."""
        if self.prepare_workers is not None:
            return self.prepare_workers
        return max(0, min(4, (os.cpu_count() or 1) - 1))


#: A JetStream stream, consumer or subject token: no dots, spaces or wildcards.
NatsName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class BusConfig(_Model):
    """How accepted messages reach the alert engine: in this process (the single box) or
    through NATS JetStream (several server processes). See docs/distributed.md."""

    kind: Literal["inprocess", "jetstream"] = Field(
        default="inprocess",
        description="inprocess: call the subscribers in the ingest thread; jetstream: a NATS stream.",
    )
    servers: list[str] = Field(
        default_factory=lambda: ["nats://127.0.0.1:4222"],
        min_length=1,
        max_length=32,
        description="NATS server URLs (any members of the cluster; the client fails over).",
    )
    stream: NatsName = Field(default="LW", description="JetStream stream name (created if missing).")
    subject_prefix: NatsName = Field(
        default="lw", description="Subjects are <prefix>.<family>.<partition>.<site>."
    )
    partitions: int = Field(
        default=16,
        ge=1,
        le=4096,
        description="Sites map to this many partitions (crc32 of the site id, modulo); fixed once used.",
    )
    replicas: int = Field(default=1, ge=1, le=5, description="Stream replicas (3 on a 3-node cluster).")
    consumer: NatsName = Field(
        default="alerts", description="Durable consumer name the alert engine reads through."
    )
    lease_ttl_s: float = Field(
        default=10,
        ge=1,
        le=300,
        description=(
            "One server process at a time consumes (its alert engine): it holds a lease of this "
            "length in a JetStream KV bucket; another takes over this long after it dies."
        ),
    )
    duplicate_window_s: float = Field(
        default=3600,
        ge=1,
        le=7 * 86_400,
        description="JetStream drops a message id seen within this window (a gateway's resend).",
    )
    publish_timeout_s: float = Field(
        default=10,
        gt=0,
        le=120,
        description=(
            "Longest wait for JetStream to store a batch (ingest then answers 503), or to connect at start."
        ),
    )
    retention_s: float = Field(
        default=7 * 86_400,
        ge=3600,
        le=365 * 86_400,
        description="Stored batches are dropped after this long (a stopped consumer's time to catch up).",
    )

    @model_validator(mode="after")
    def _window_within_retention(self) -> BusConfig:
        if self.duplicate_window_s > self.retention_s:
            raise ValueError("duplicate_window_s cannot be longer than retention_s")
        return self


class BootstrapToken(_Model):
    """A token created at start-up (if missing); give its SHA-256 or a file holding it."""

    name: str = Field(min_length=1, max_length=120, description="Who or what holds it.")
    role: Role = Field(description="admin, manager, vendor, display, gateway, guide or counter.")
    sha256: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{64}$", description="SHA-256 (hex) of the token."
    )
    token_file: Path | None = Field(default=None, description="File holding the plain token.")
    sites: list[Identifier] = Field(default_factory=list, description="Sites (manager, display, gateway).")
    vendor: Identifier | None = Field(default=None, description="Vendor id (vendor role).")
    counter: Identifier | None = Field(default=None, description="Counter id (counter role).")

    @model_validator(mode="after")
    def _one_secret(self) -> BootstrapToken:
        if (self.sha256 is None) == (self.token_file is None):
            raise ValueError("give exactly one of sha256 and token_file")
        check_role_binding(self.role, self.sites, self.vendor, self.counter)
        return self


class AckLinkConfig(_Model):
    """Acknowledge links in chat and e-mail messages (docs/alerts.md, "Acknowledging from the chat")."""

    public_base_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s?#]+$",
        max_length=300,
        description=(
            "The server's address as people's phones reach it (e.g. https://lobbywatch.example.com). "
            "Unset: chat and e-mail messages carry no acknowledge link."
        ),
    )
    secret: str | None = Field(default=None, min_length=32, max_length=512, description="HMAC key.")
    secret_file: Path | None = Field(default=None, description="File holding the HMAC key instead.")
    ttl_s: float = Field(default=86_400, gt=0, le=30 * 86_400, description="How long a link works.")

    @model_validator(mode="after")
    def _secret_with_url(self) -> AckLinkConfig:
        if self.public_base_url is not None and (self.secret is None) == (self.secret_file is None):
            raise ValueError("with public_base_url, give exactly one of secret and secret_file")
        return self

    def resolved_secret(self) -> bytes | None:
        """The HMAC key, or None when links are off (no public base URL)."""
        if self.public_base_url is None:
            return None
        if self.secret is not None:
            return self.secret.encode()
        assert self.secret_file is not None
        return self.secret_file.read_text(encoding="utf-8").strip().encode()


class ServerSettings(_Model):
    """The central server."""

    config_version: Literal[1] = Field(default=1, description="Version of this file format.")
    listen: ListenConfig = Field(default_factory=ListenConfig, description="HTTP listener.")
    sql_url: str = Field(
        default="sqlite:///lobbywatch-server.sqlite3",
        min_length=1,
        description="SQLAlchemy URL: an SQLite file by default, postgresql+psycopg://... in production.",
    )
    influx: InfluxConfig = Field(default_factory=InfluxConfig, description="InfluxDB v1 API.")
    ingest: IngestConfig = Field(default_factory=IngestConfig, description="Gateway ingest.")
    halls: list[Path] = Field(
        default_factory=list, description="Hall configuration files: sites, devices and vendors."
    )
    bootstrap_tokens: list[BootstrapToken] = Field(default_factory=list, description="Initial tokens.")
    max_request_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Body limit of every request but ingest."
    )
    ack_links: AckLinkConfig = Field(
        default_factory=AckLinkConfig, description="Signed acknowledge links in chat messages."
    )
    bus: BusConfig = Field(default_factory=BusConfig, description="Message bus to the alert engine.")
    roles: list[ServerRole] = Field(
        default_factory=lambda: list(ServerRole),
        min_length=1,
        max_length=len(ServerRole),
        description=(
            "What this process does: ingest, api, writer, worker (default: all of them). Splitting "
            'them needs bus.kind jetstream (docs/distributed.md, "Roles").'
        ),
    )

    @model_validator(mode="after")
    def _split_roles_need_a_bus(self) -> ServerSettings:
        if len(set(self.roles)) != len(self.roles):
            raise ValueError("roles lists a role twice")
        if set(self.roles) != ALL_ROLES and self.bus.kind == "inprocess":
            raise ValueError(
                "a process with only some roles needs bus.kind jetstream: the in-process bus "
                "cannot reach the processes that run the other roles"
            )
        return self

    def has_role(self, role: ServerRole) -> bool:
        """Whether this process runs ``role``."""
        return role in self.roles

    def with_env(self, environ: Mapping[str, str] | None = None) -> ServerSettings:
        """Apply the :data:`ENV_OVERRIDES` set in ``environ`` (default: ``os.environ``).

        The result is validated like the file: a bad value raises ``ConfigError`` naming the
        environment variable it came from.
        """
        from lobbywatch.config.loader import ConfigError, ConfigIssue, format_loc

        env = os.environ if environ is None else environ
        data = self.model_dump()
        used: dict[tuple[str, ...], str] = {}
        for name, path in ENV_OVERRIDES.items():
            value = env.get(name)
            if value:
                section = data
                for key in path[:-1]:
                    section = section[key]
                section[path[-1]] = value
                used[path] = name
        if not used:
            return self
        try:
            return ServerSettings.model_validate(data)
        except ValidationError as exc:
            issues = []
            for err in exc.errors(include_url=False):
                loc = tuple(str(part) for part in err["loc"])
                source = next((n for p, n in used.items() if loc[: len(p)] == p), "environment")
                issues.append(ConfigIssue(source, None, format_loc(err["loc"]), err["msg"]))
            raise ConfigError(issues) from None


ENV_OVERRIDES: dict[str, tuple[str, ...]] = {
    "LOBBYWATCH_SERVER_SQL_URL": ("sql_url",),
    "LOBBYWATCH_SERVER_INFLUX_URL": ("influx", "url"),
    "LOBBYWATCH_SERVER_INFLUX_TOKEN": ("influx", "token"),
}
"""Environment variables that override settings (what container deployments want)."""


def _check(settings: ServerSettings) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    for i, path in enumerate(settings.halls):
        if not path.is_file():
            problems.append((("halls", i), f"hall configuration {path} does not exist"))
    return problems


def _resolve(base: Path, path: Path) -> Path:
    return path if path.is_absolute() else base / path


def load_server_settings(path: Path) -> ServerSettings:
    """Read SERVER.yaml; relative paths are taken relative to the file's directory."""
    raw = load_yaml_model(path, ServerSettings)
    base = path.resolve().parent
    sql_url = raw.sql_url
    prefix = "sqlite:///"
    if sql_url.startswith(prefix) and not sql_url.startswith(prefix + "/") and ":memory:" not in sql_url:
        sql_url = prefix + str(base / sql_url[len(prefix) :])
    influx = raw.influx
    if influx.token_file is not None:
        influx = influx.model_copy(update={"token_file": _resolve(base, influx.token_file)})
    tokens = [
        t.model_copy(update={"token_file": _resolve(base, t.token_file)}) if t.token_file else t
        for t in raw.bootstrap_tokens
    ]
    ack_links = raw.ack_links
    if ack_links.secret_file is not None:
        ack_links = ack_links.model_copy(update={"secret_file": _resolve(base, ack_links.secret_file)})
    resolved = raw.model_copy(
        update={
            "sql_url": sql_url,
            "influx": influx,
            "halls": [_resolve(base, p) for p in raw.halls],
            "bootstrap_tokens": tokens,
            "ack_links": ack_links,
        }
    )
    return load_checked(path, resolved)


def load_checked(path: Path, settings: ServerSettings) -> ServerSettings:
    from lobbywatch.config.loader import ConfigError, ConfigIssue

    problems = _check(settings)
    if problems:
        raise ConfigError([ConfigIssue(str(path), None, ".".join(map(str, loc)), m) for loc, m in problems])
    return settings.with_env()
