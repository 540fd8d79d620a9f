"""Commands of this component (see system/cli.py for how groups are assembled)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lobbywatch.cli_options import BrokerOpt, HallConfigOpt, LogFormatOpt, checked_log_format
from lobbywatch.logs import LogFormat, setup_logging

if TYPE_CHECKING:
    from lobbywatch.cli import Groups


def run_gateway(
    config: Path,
    broker: str | None = None,
    server: str | None = None,
    token_file: Path | None = None,
    outbox: Path | None = None,
    log_format: LogFormat = "text",
) -> int:
    """Run the gateway until SIGTERM or SIGINT; return the exit code."""
    import logging
    import signal
    import threading

    from gateway.service import Gateway, GatewaySettings, GatewaySetupError
    from lobbywatch.cli_options import load_site_or_exit
    from lobbywatch.clock import default_clock
    from lobbywatch.mqtt import broker_from_url

    summary = setup_logging("gateway", log_format)
    cfg = load_site_or_exit(config)
    if server is not None and not server.startswith(("http://", "https://")):
        typer.echo(
            f"--server {server!r}: 需要 http:// 或 https:// / must start with http:// or https://", err=True
        )
        return 2
    try:
        settings = GatewaySettings.from_config(
            cfg,
            broker=broker_from_url(broker) if broker else None,
            server_url=server,
            token_file=token_file,
            outbox=outbox,
        )
        gateway = Gateway(settings, clock=default_clock())
    except (GatewaySetupError, ValueError, OSError) as exc:
        typer.echo(str(exc), err=True)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    gateway.start()
    typer.echo(f"网关已启动 / gateway running: site {settings.site}, outbox {settings.outbox}", err=True)
    stop.wait()
    gateway.stop()
    summary.flush(logging.getLogger("gateway"))
    typer.echo("网关已停止 / gateway stopped", err=True)
    return 0


def register(groups: Groups) -> None:
    """Add this component's commands to the command groups."""

    @groups.gateway.command("run")
    def gateway_run(
        config: HallConfigOpt,
        broker: BrokerOpt = None,
        server: Annotated[
            str | None, typer.Option("--server", help="Central server base URL; default: config.")
        ] = None,
        token_file: Annotated[
            Path | None, typer.Option("--token-file", help="File holding the gateway token.")
        ] = None,
        outbox: Annotated[Path | None, typer.Option("--outbox", help="Outbox SQLite file.")] = None,
        log_format: LogFormatOpt = "text",
    ) -> None:
        """Forward the hall's messages to the central server, durably (store and forward)."""
        code = run_gateway(config, broker, server, token_file, outbox, checked_log_format(log_format))
        if code:
            raise typer.Exit(code)
