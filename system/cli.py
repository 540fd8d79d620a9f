"""The ``lobbywatch`` command assembled: the shared groups plus every component's commands.

``lobbywatch/cli.py`` creates the groups and the shared commands (``version``, ``protocol``,
``config``); here each component's ``cli.py`` adds its commands through ``register(groups)``,
and the ``demo`` command is added. Component modules import heavy libraries (torch, FastAPI)
inside their commands, so ``lobbywatch --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dashboards.cli import register as dashboards_cli
from edge.devices.cli import register as devices_cli
from edge.simulate.cli import register as simulate_cli
from edge.vision.cli import register as vision_cli
from gateway.cli import register as gateway_cli
from lobbywatch.cli import app, groups
from server.alerts.cli import register as alerts_cli
from server.cli import register as server_cli

for register in (vision_cli, devices_cli, simulate_cli, gateway_cli, server_cli, alerts_cli, dashboards_cli):
    register(groups)


@app.command("demo")
def demo(
    speed: Annotated[
        float, typer.Option("--speed", min=1, max=1000, help="Simulated seconds per real second.")
    ] = 60.0,
    video: Annotated[
        Path | None,
        typer.Option("--video", help="Run the real detector on this video file (looped) for one camera."),
    ] = None,
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Server port.")] = 8000,
    run_dir: Annotated[
        Path, typer.Option("--run-dir", help="Configuration, tokens, logs and data of the demo.")
    ] = Path("lobbywatch-demo"),
    start: Annotated[
        str | None,
        typer.Option(
            "--start",
            help=(
                "Simulated start HH:MM (halls' local time) on the simulated day, the first from "
                "today on when every demo hall is open; default: just after they all opened."
            ),
        ),
    ] = None,
) -> None:
    """The whole system on this machine: three simulated halls, a busy morning; Ctrl-C stops it."""
    from system.demo import DemoOptions, run_demo

    code = run_demo(DemoOptions(speed=speed, port=port, run_dir=run_dir, video=video, start=start))
    if code:
        raise typer.Exit(code)


def main() -> None:
    """The ``lobbywatch`` command (also ``python -m system``, shown as ``lobbywatch`` in help)."""
    app(prog_name="lobbywatch")


__all__ = ["app", "main"]
