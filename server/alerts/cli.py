"""``lobbywatch alerts ...`` commands (system/cli.py calls :func:`register`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lobbywatch.cli_options import HallConfigOpt

if TYPE_CHECKING:
    from lobbywatch.cli import Groups


def register(groups: Groups) -> None:
    """Add the alert engine's commands to the ``alerts`` group."""

    @groups.alerts.command("test")
    def alerts_test(
        config: HallConfigOpt,
        replay_file: Annotated[
            Path, typer.Option("--replay", help="Recorded messages, one JSON message per line.")
        ],
    ) -> None:
        """Replay recorded messages through the alert rules; print the alerts, notify nobody.

        回放录制的消息，打印将会触发的告警（不发送任何通知）。
        """
        from lobbywatch.cli_options import load_site_or_exit
        from server.alerts.replay import format_update, read_jsonl, replay

        cfg = load_site_or_exit(config)
        if not replay_file.is_file():
            typer.echo(f"{replay_file}: no such file / 文件不存在", err=True)
            raise typer.Exit(2)
        updates, bad = replay(cfg, read_jsonl(replay_file))
        for line in bad:
            typer.echo(f"{replay_file}:{line.line}: skipped / 已跳过: {line.error}", err=True)
        for u in updates:
            typer.echo(format_update(u, cfg))
        fired = sum(1 for u in updates if u.event.value in ("fired", "reopened"))
        typer.echo(
            f"{fired} alerts fired, {len(updates)} updates / 触发告警 {fired} 条，更新 {len(updates)} 条"
        )
