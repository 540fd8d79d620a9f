"""``lobbywatch server ...``: run the server, create and revoke tokens, migrate the schema."""

from __future__ import annotations

from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from lobbywatch.cli_options import LogFormatOpt, checked_log_format
from lobbywatch.logs import setup_logging

if TYPE_CHECKING:
    from lobbywatch.cli import Groups
    from server.core.config import ServerSettings

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="Server configuration (SERVER.yaml).")]


def _settings(config: Path) -> object:
    from lobbywatch.cli_options import exit_on_config_error
    from server.core.config import load_server_settings

    with exit_on_config_error():
        return load_server_settings(config)


def _with_roles(settings: ServerSettings, text: str) -> ServerSettings:
    """``settings`` with the roles given on the command line (validated like the file)."""
    from pydantic import ValidationError

    from server.core.config import ServerSettings
    from server.roles import parse_roles

    try:
        return ServerSettings.model_validate({**settings.model_dump(), "roles": parse_roles(text)})
    except (ValueError, ValidationError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--roles") from None


#: Seconds a stopping server waits for open requests (live streams) before it cuts them.
SHUTDOWN_GRACE_S = 3


def register(groups: Groups) -> None:
    """Add this component's commands to the command groups."""
    token = typer.Typer(help="API tokens.", no_args_is_help=True, add_completion=False)
    groups.server.add_typer(token, name="token")

    @groups.server.command("run")
    def run(
        config: ConfigOpt,
        host: Annotated[str | None, typer.Option(help="Override listen.host.")] = None,
        port: Annotated[int | None, typer.Option(help="Override listen.port.")] = None,
        log_format: LogFormatOpt = "text",
        roles: Annotated[
            str | None,
            typer.Option(
                help="Override roles: all, or some of ingest,api,writer,worker (needs bus.kind jetstream)."
            ),
        ] = None,
    ) -> None:
        """Run the central server (FastAPI + uvicorn); OpenAPI docs at /docs."""
        import uvicorn

        from lobbywatch.clock import default_clock
        from server.app import create_app
        from server.core.config import ServerSettings

        settings = _settings(config)
        assert isinstance(settings, ServerSettings)
        if roles is not None:
            settings = _with_roles(settings, roles)
        setup_logging("server", checked_log_format(log_format))
        app = create_app(settings, default_clock(), settle_gc=True)
        stopping = app.state.ctx.downlink.close  # gateways' long polls answer at once

        class Server(uvicorn.Server):
            def handle_exit(self, sig: int, frame: FrameType | None) -> None:
                stopping()
                super().handle_exit(sig, frame)

        uv_config = uvicorn.Config(
            app,
            host=host or settings.listen.host,
            port=settings.listen.port if port is None else port,
            log_level="info",
            access_log=settings.listen.access_log,
            timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
        )
        Server(uv_config).run()

    @groups.server.command("migrate")
    def migrate(config: ConfigOpt) -> None:
        """Create or upgrade the SQL schema (the server also does this at start-up)."""
        from server.core.config import ServerSettings
        from server.storage.db import Database, run_migrations

        settings = _settings(config)
        assert isinstance(settings, ServerSettings)
        db = Database(settings.sql_url)
        run_migrations(db)
        db.dispose()
        typer.echo("schema is up to date")

    @token.command("create")
    def token_create(
        config: ConfigOpt,
        role: Annotated[
            str, typer.Option(help="admin, manager, vendor, display, gateway, guide or counter.")
        ],
        name: Annotated[str, typer.Option(help="Who or what holds the token.")],
        site: Annotated[list[str] | None, typer.Option(help="Site id (repeat for managers).")] = None,
        vendor: Annotated[str | None, typer.Option(help="Vendor id (vendor role).")] = None,
        counter: Annotated[str | None, typer.Option(help="Counter id (counter role).")] = None,
        ttl: Annotated[
            str | None, typer.Option(help="Lifetime, e.g. 30d, 12h, 45m, 2w; default: never expires.")
        ] = None,
    ) -> None:
        """Create a token and print it (once: only its SHA-256 is stored)."""
        from pydantic import ValidationError

        from lobbywatch.clock import SystemClock
        from server.api.routes.admin import TokenIn
        from server.core.config import ServerSettings
        from server.core.security import create_token, parse_ttl
        from server.storage.db import Database, run_migrations

        settings = _settings(config)
        assert isinstance(settings, ServerSettings)
        try:
            ttl_s = None if ttl is None else int(parse_ttl(ttl).total_seconds())
            spec = TokenIn.model_validate(
                {
                    "name": name,
                    "role": role,
                    "sites": site or [],
                    "vendor": vendor,
                    "counter": counter,
                    "ttl_s": ttl_s,
                }
            )
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                typer.echo(f"invalid: {'.'.join(map(str, err['loc']))}: {err['msg']}", err=True)
            raise typer.Exit(2) from None
        except ValueError as exc:
            typer.echo(f"invalid: ttl: {exc}", err=True)
            raise typer.Exit(2) from None
        db = Database(settings.sql_url)
        run_migrations(db)
        now = SystemClock().now()
        with db.session() as session:
            _row, plain = create_token(
                session,
                name=spec.name,
                role=spec.role,
                created_at=now,
                sites=spec.sites,
                vendor=spec.vendor,
                counter=spec.counter,
                expires_at=spec.expiry(now),
            )
        db.dispose()
        typer.echo(plain)

    @token.command("revoke")
    def token_revoke(
        config: ConfigOpt,
        token_id: Annotated[int, typer.Argument(help="Token id (GET /api/v1/admin/tokens lists them).")],
    ) -> None:
        """Revoke a token: it answers 401, and its open live streams end (within 15 s)."""
        from lobbywatch.clock import SystemClock
        from server.core.config import ServerSettings
        from server.core.security import revoke_token
        from server.storage.db import Database, run_migrations

        settings = _settings(config)
        assert isinstance(settings, ServerSettings)
        db = Database(settings.sql_url)
        run_migrations(db)
        with db.session() as session:
            found = revoke_token(session, token_id, SystemClock().now())
        db.dispose()
        if not found:
            typer.echo(f"no token {token_id}", err=True)
            raise typer.Exit(1)
        typer.echo(f"token {token_id} revoked")
