"""The ``lobbywatch`` command's groups and its shared commands (``version``, ``protocol``, ``config``).

The root creates the groups (``edge``, ``gateway``, ``server``, ...); each component's own
``cli.py`` adds its commands to them in a ``register(groups)`` function, and ``system/cli.py``
(the command's entry point) calls every component's ``register``. This module imports no
component.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from lobbywatch import __version__


@dataclass(frozen=True)
class Groups:
    """The sub-command groups components register their commands into."""

    root: typer.Typer
    protocol: typer.Typer
    config: typer.Typer
    edge: typer.Typer
    eval: typer.Typer
    gateway: typer.Typer
    server: typer.Typer
    alerts: typer.Typer
    dashboards: typer.Typer
    simulate: typer.Typer
    deploy: typer.Typer


def _group(help_text: str) -> typer.Typer:
    return typer.Typer(help=help_text, no_args_is_help=True, add_completion=False)


app = _group("LobbyWatch: sensing for service lobbies, from edge cameras to the duty manager.")
groups = Groups(
    root=app,
    protocol=_group("The MQTT protocol: JSON Schemas and the conformance checker."),
    config=_group("Hall configuration files."),
    edge=_group("Edge daemons: camera vision and the kiosk/counter device agent."),
    eval=_group("Accuracy evaluation of the vision pipeline."),
    gateway=_group("The hall gateway: durable store-and-forward to the central server."),
    server=_group("The central server."),
    alerts=_group("The alert engine: replay and tuning."),
    dashboards=_group("Grafana dashboards: generate and push."),
    simulate=_group("Simulated halls and devices, for demos and load tests."),
    deploy=_group("Deployment helpers: broker credentials and ACLs."),
)
for _name in (
    "protocol",
    "config",
    "edge",
    "eval",
    "gateway",
    "server",
    "alerts",
    "dashboards",
    "simulate",
    "deploy",
):
    app.add_typer(getattr(groups, _name), name=_name)


@app.command()
def version() -> None:
    """Print the LobbyWatch version and protocol version."""
    typer.echo(f"lobbywatch {__version__} (protocol v1)")


@groups.protocol.command("schema")
def protocol_schema(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the schemas into.")],
) -> None:
    """Write one JSON Schema file per message type."""
    from lobbywatch.protocol.schema import write_schemas

    for path in write_schemas(out):
        typer.echo(str(path))


@groups.protocol.command("validate")
def protocol_validate(
    file: Annotated[Path, typer.Argument(help="A JSON file holding one message, or '-'.")],
    topic: Annotated[str | None, typer.Option(help="Topic it was published on.")] = None,
) -> None:
    """Validate one message; exit 1 with the field errors when it is invalid."""
    from lobbywatch.protocol.codec import ProtocolError, decode

    payload = sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
    try:
        message = decode(payload, topic)
    except ProtocolError as exc:
        for err in exc.errors:
            typer.echo(f"invalid: {err}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"valid {message.type} from {message.site}/{message.source} seq {message.seq}")


@groups.config.command("check")
def config_check(
    files: Annotated[list[Path], typer.Argument(help="Hall configuration files (YAML).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the parsed config.")] = False,
) -> None:
    """Check hall configuration files; print each error with its line and field path."""
    from lobbywatch.config import ConfigError, load_site_config

    failed = False
    for path in files:
        try:
            cfg = load_site_config(path)
        except ConfigError as exc:
            failed = True
            for issue in exc.issues:
                typer.echo(str(issue), err=True)
            continue
        if as_json:
            typer.echo(json.dumps(cfg.model_dump(mode="json", by_alias=True), ensure_ascii=False))
        else:
            typer.echo(
                f"{path}: ok — site {cfg.site}, {len(cfg.zones)} zones, {len(cfg.cameras)} "
                f"cameras, {len(cfg.devices)} devices, {len(cfg.counters)} counters"
            )
    if failed:
        raise typer.Exit(1)
