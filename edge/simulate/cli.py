"""Commands of this component (see system/cli.py for how groups are assembled)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lobbywatch.cli_options import (
    BrokerOpt,
    HallConfigOpt,
    PasswordFileOpt,
    SeedOpt,
    exit_on_config_error,
    fail,
    load_site_or_exit,
)
from lobbywatch.logs import setup_logging

if TYPE_CHECKING:
    from lobbywatch.cli import Groups


def register(groups: Groups) -> None:
    """Add this component's commands to the command groups."""

    @groups.simulate.command("hall")
    def simulate_hall(
        config: HallConfigOpt,
        speed: Annotated[
            float, typer.Option("--speed", min=0.01, max=10_000, help="Simulated seconds per real second.")
        ] = 60.0,
        broker: BrokerOpt = None,
        password_file: PasswordFileOpt = None,
        start: Annotated[
            str | None,
            typer.Option("--start", help="Simulated start, ISO 8601 with offset; default: today's opening."),
        ] = None,
        seed: SeedOpt = None,
        scenario: Annotated[
            str, typer.Option("--scenario", help="busy-morning, normal, or a scenario YAML file.")
        ] = "normal",
        duration_min: Annotated[
            float | None,
            typer.Option("--duration-min", min=0.1, help="Stop after this many simulated minutes."),
        ] = None,
        tick_s: Annotated[
            float, typer.Option("--tick", min=0.05, max=10, help="Simulated seconds per step and frame.")
        ] = 1.0,
        no_devices: Annotated[
            bool,
            typer.Option(
                "--no-devices", help="Do not simulate kiosks/terminal devices (counter states still)."
            ),
        ] = False,
        truth_report: Annotated[
            Path | None, typer.Option("--truth-report", help="Write the truth report (JSON) here.")
        ] = None,
        tickets: Annotated[
            bool, typer.Option("--tickets", help="Add the hall's queue-ticket system (ticket events).")
        ] = False,
        ticket_share: Annotated[
            float | None,
            typer.Option(
                "--ticket-share",
                min=0,
                max=1,
                help="Share of queuers who take a ticket (with --tickets); default: the scenario's.",
            ),
        ] = None,
    ) -> None:
        """Simulate a hall (people, queues, counters, kiosks) through the real vision pipeline."""
        import logging

        from edge.simulate.runner import run_hall
        from edge.simulate.scenario import load_scenario
        from lobbywatch.mqtt import broker_from_url

        setup_logging("simulator", "text", logging.WARNING)
        site = load_site_or_exit(config)
        try:
            with exit_on_config_error():
                sc = load_scenario(scenario)
                if ticket_share is not None:
                    sc = sc.model_copy(update={"ticket_share": ticket_share})
        except ValueError as exc:
            raise fail(
                str(exc), f"未知场景 {scenario!r}：可用 busy-morning、normal 或场景 YAML 文件"
            ) from None
        when: datetime | None = None
        if start is not None:
            try:
                when = datetime.fromisoformat(start.replace("Z", "+00:00"))
            except ValueError:
                raise fail(
                    f"--start {start!r} is not an ISO 8601 time", f"--start {start!r} 不是 ISO 8601 时间"
                ) from None
            if when.tzinfo is None:
                raise fail(
                    f"--start {start!r} needs a UTC offset (e.g. 2026-11-23T09:00+08:00)",
                    f"--start {start!r} 需要带时区偏移（如 2026-11-23T09:00+08:00）",
                )
        try:
            broker_cfg = site.broker if broker is None else broker_from_url(broker)
        except ValueError as exc:
            raise fail(str(exc), f"无效的代理地址 {broker!r}") from None
        if password_file is not None:
            broker_cfg = broker_cfg.model_copy(update={"password_file": password_file})
        password = broker_cfg.password_file.read_text().strip() if broker_cfg.password_file else None
        report = run_hall(
            site,
            broker_cfg,
            sc,
            speed=speed,
            start=when,
            seed=seed,
            duration_min=duration_min,
            tick_s=tick_s,
            devices=False if no_devices else None,
            tickets=tickets,
            password=password,
            truth_report=truth_report,
        )
        typer.echo(report.text())
