"""Commands of this component (see system/cli.py for how groups are assembled).

``lobbywatch dashboards generate`` writes the dashboard JSON from the Python definitions;
``lobbywatch dashboards push`` uploads data source and dashboards to a Grafana.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from lobbywatch.cli import Groups


def register(groups: Groups) -> None:
    """Add this component's commands to the command groups."""

    @groups.dashboards.command("generate")
    def generate(
        out: Annotated[Path, typer.Option("--out", help="Directory for the JSON files.")] = Path(
            "dashboards/json"
        ),
        check: Annotated[
            bool, typer.Option("--check", help="Write nothing; exit 1 when the files are out of date.")
        ] = False,
    ) -> None:
        """Write the Grafana dashboards as JSON (the committed files under dashboards/json)."""
        from dashboards.catalog import stale_files, write_all

        if check:
            stale = stale_files(out)
            for name in stale:
                typer.echo(f"过期 out of date: {out / name}", err=True)
            if stale:
                typer.echo("运行 run: lobbywatch dashboards generate --out " + str(out), err=True)
                raise typer.Exit(1)
            typer.echo(f"最新 up to date: {out}")
            return
        for path in write_all(out):
            typer.echo(str(path))

    @groups.dashboards.command("push")
    def push_cmd(
        url: Annotated[str, typer.Option("--url", help="Grafana base URL, e.g. http://grafana:3000.")],
        token: Annotated[
            str,
            typer.Option("--token", envvar="GRAFANA_TOKEN", help="Service-account token (Editor or Admin)."),
        ],
        folder: Annotated[
            str, typer.Option("--folder", help="Folder to put the dashboards in.")
        ] = "LobbyWatch",
        influx_url: Annotated[
            str, typer.Option("--influx-url", help="InfluxDB URL as Grafana sees it.")
        ] = "http://localhost:8086",
        database: Annotated[str, typer.Option("--database", help="InfluxDB database.")] = "lobbywatch",
        influx_user: Annotated[str, typer.Option("--influx-user", help="InfluxDB v1 user.")] = "",
        influx_password: Annotated[
            str,
            typer.Option(
                "--influx-password",
                envvar="INFLUX_PASSWORD",
                help="InfluxDB v1 password, or an API token on InfluxDB 2.x/3.x.",
            ),
        ] = "",
        skip_datasource: Annotated[
            bool, typer.Option("--skip-datasource", help="Leave the data source as it is.")
        ] = False,
    ) -> None:
        """Upload the data source and dashboards to Grafana; a second run changes nothing."""
        from pydantic import ValidationError

        from dashboards.catalog import all_dashboards
        from dashboards.push import InfluxSource, PushError, connect, push

        try:
            source = InfluxSource(
                url=influx_url, database=database, user=influx_user, password=influx_password
            )
        except ValidationError as exc:
            for err in exc.errors():
                typer.echo(f"参数错误 invalid option {err['loc'][0]}: {err['msg']}", err=True)
            raise typer.Exit(2) from None
        try:
            report = push(
                connect(url, token),
                [d.to_json() for d in all_dashboards()],
                folder=folder,
                source=None if skip_datasource else source,
            )
        except PushError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from None
        for line in report.lines:
            typer.echo(line)
        typer.echo(f"写入 writes: {report.writes}")
