"""Commands of the device component (see system/cli.py for how groups are assembled).

* ``lobbywatch edge device --config HALL.yaml --device ID`` runs the agent;
  ``lobbywatch edge device report --code PRN_PAPER_OUT [--clear]``,
  ``... out-of-service --on/--off`` and ``... counter STATE`` talk to a running agent's
  local HTTP API; ``... fault-codes`` prints (or writes) the catalogue as Markdown.
* ``lobbywatch protocol check`` — the conformance checker.
* ``lobbywatch simulate devices`` — the device fleet simulator.
* ``lobbywatch deploy mqtt-credentials`` — broker password file and ACL for a hall.
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from edge.devices.outbox import MAX_KEPT
from lobbywatch.cli_options import (
    BrokerOpt,
    HallConfigOpt,
    LogFormatOpt,
    PasswordFileOpt,
    SeedOpt,
    checked_log_format,
    exit_on_config_error,
    fail,
    load_site_or_exit,
)
from lobbywatch.logs import setup_logging

if TYPE_CHECKING:
    from lobbywatch.cli import Groups
    from lobbywatch.config.site import BrokerConfig

DEFAULT_HTTP_PORT = 8787

device_app = typer.Typer(
    help="The kiosk / counter-terminal agent, and commands that talk to a running agent.",
    invoke_without_command=True,
    add_completion=False,
)


def _broker(
    url: str | None, password_file: Path | None, default: BrokerConfig
) -> tuple[BrokerConfig, str | None]:
    from lobbywatch.mqtt import broker_from_url

    broker = default if url is None else broker_from_url(url)
    if password_file is not None:
        broker = broker.model_copy(update={"password_file": password_file})
    password = broker.password_file.read_text().strip() if broker.password_file else None
    return broker, password


@device_app.callback()
def device_run(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option("--config", help="Hall configuration (YAML).")] = None,
    device: Annotated[str | None, typer.Option("--device", help="Device id from the hall config.")] = None,
    broker: BrokerOpt = None,
    password_file: PasswordFileOpt = None,
    state_dir: Annotated[
        Path | None, typer.Option("--state-dir", help="Outbox and state (default ./lobbywatch-device-ID).")
    ] = None,
    http_port: Annotated[
        int, typer.Option("--http-port", help="Local API port on 127.0.0.1 (0: off).")
    ] = DEFAULT_HTTP_PORT,
    checks: Annotated[Path | None, typer.Option("--checks", help="Built-in checks (YAML).")] = None,
    vendor_codes: Annotated[
        list[Path] | None, typer.Option("--vendor-codes", help="Vendor fault codes (YAML).")
    ] = None,
    heartbeat_s: Annotated[
        float | None, typer.Option("--heartbeat-s", min=0.1, help="Override heartbeat interval.")
    ] = None,
    firmware: Annotated[
        str | None, typer.Option("--firmware", help="Firmware/software version to announce.")
    ] = None,
    receipts: Annotated[
        str,
        typer.Option(
            "--receipts",
            help="auto: keep each message until the gateway's receipt covers it (once one was "
            "seen); off: drop it on the broker's acknowledgement (docs/protocol.md).",
        ),
    ] = "auto",
    max_kept: Annotated[
        int,
        typer.Option(
            "--max-kept", min=100, max=10_000_000, help="Messages kept awaiting a receipt, at most."
        ),
    ] = MAX_KEPT,
    log_format: LogFormatOpt = "text",
) -> None:
    """Run the device agent (without a sub-command), until SIGTERM or Ctrl-C."""
    if ctx.invoked_subcommand is not None:
        return
    if config is None or device is None:
        raise fail("--config and --device are required to run the agent", "运行代理需要 --config 和 --device")
    if receipts not in ("auto", "off"):
        raise fail(f"--receipts must be auto or off, not {receipts!r}", "--receipts 只能是 auto 或 off")

    from edge.devices.agent import DeviceAgent
    from edge.devices.checks import load_checks
    from edge.devices.faults import load_catalogue
    from lobbywatch.config import load_site_config

    setup_logging("device-agent", checked_log_format(log_format))
    with exit_on_config_error():
        site = load_site_config(config)
        catalogue = load_catalogue(vendor_codes or [])
        check_list = list(load_checks(checks, {f.code for f in catalogue}).checks) if checks else []
    try:
        site.device(device)
    except KeyError:
        known = ", ".join(d.id for d in site.devices) or "none"
        raise fail(
            f"device {device!r} is not in {config} (devices: {known})", f"配置中没有设备 {device!r}"
        ) from None
    broker_cfg, password = _broker(broker, password_file, site.broker)
    agent = DeviceAgent(
        site,
        device,
        state_dir=state_dir or Path(f"lobbywatch-device-{device}"),
        broker=broker_cfg,
        password=password,
        catalogue=catalogue,
        checks=check_list,
        heartbeat_s=heartbeat_s,
        firmware=firmware,
        http_port=http_port or None,
        receipts="auto" if receipts == "auto" else "off",
        max_kept=max_kept,
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    try:
        agent.start()
    except OSError as exc:
        agent.stop(clean=False)
        raise fail(
            f"cannot open the local API on 127.0.0.1:{http_port}: {exc.strerror}; pick another --http-port",
            f"无法在 127.0.0.1:{http_port} 打开本地接口：{exc.strerror}；请换一个 --http-port",
        ) from None
    where = f"http://{agent.http_address[0]}:{agent.http_address[1]}" if agent.http_address else "off"
    typer.echo(f"device agent {site.site}/{device} running; local API {where}", err=True)
    done.wait()
    agent.stop()


def _post(port: int, path: str, body: dict[str, Any]) -> None:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            typer.echo(resp.read().decode())
    except urllib.error.HTTPError as exc:
        typer.echo(exc.read().decode(errors="replace"), err=True)
        raise typer.Exit(1) from None
    except urllib.error.URLError as exc:
        raise fail(
            f"no agent answers on 127.0.0.1:{port} ({exc.reason}); is `lobbywatch edge device` running?",
            f"127.0.0.1:{port} 上没有设备代理应答",
        ) from None


PortOpt = Annotated[int, typer.Option("--port", help="The agent's local API port.")]


@device_app.command("report")
def device_report(
    code: Annotated[str, typer.Option("--code", help="Fault code, e.g. PRN_PAPER_OUT.")],
    clear: Annotated[bool, typer.Option("--clear", help="Clear the fault instead of raising it.")] = False,
    detail: Annotated[str | None, typer.Option("--detail", help="Free text for the log.")] = None,
    port: PortOpt = DEFAULT_HTTP_PORT,
) -> None:
    """Raise (or --clear) a fault through a running agent."""
    body: dict[str, Any] = {"code": code, "clear": clear}
    if detail:
        body["detail"] = detail
    _post(port, "/v1/fault", body)


@device_app.command("out-of-service")
def device_out_of_service(
    on: Annotated[bool, typer.Option("--on/--off", help="Post or remove the notice.")],
    detail: Annotated[str | None, typer.Option("--detail", help="Why.")] = None,
    port: PortOpt = DEFAULT_HTTP_PORT,
) -> None:
    """Post or remove the out-of-service notice by hand."""
    _post(port, "/v1/out-of-service", {"on": on, **({"detail": detail} if detail else {})})


@device_app.command("counter")
def device_counter(
    state: Annotated[str, typer.Argument(help="serving, standby, learning or away.")],
    port: PortOpt = DEFAULT_HTTP_PORT,
) -> None:
    """Report a counter terminal's state."""
    _post(port, "/v1/counter", {"state": state})


@device_app.command("fault-codes")
def device_fault_codes(
    vendor_codes: Annotated[
        list[Path] | None, typer.Option("--vendor-codes", help="Vendor fault codes.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write here (docs/fault-codes.md).")] = None,
) -> None:
    """Print the fault catalogue as Markdown (the source of docs/fault-codes.md)."""
    from edge.devices.faults import load_catalogue, render_markdown

    with exit_on_config_error():
        text = render_markdown(load_catalogue(vendor_codes or []))
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")


def register(groups: Groups) -> None:
    """Add this component's commands to the command groups."""
    groups.edge.add_typer(device_app, name="device")

    @groups.protocol.command("check")
    def protocol_check(
        broker: Annotated[str, typer.Option("--broker", help="mqtt://host:port or mqtt://user@host:port")],
        site: Annotated[str, typer.Option("--site", help="Site (hall) id.")],
        device: Annotated[str | None, typer.Option("--device", help="Only this device.")] = None,
        seconds: Annotated[float, typer.Option("--seconds", min=0.5, help="Observation window.")] = 60,
        password_file: PasswordFileOpt = None,
        expect_will: Annotated[
            bool,
            typer.Option("--expect-will", help="Fail unless the device's last-will arrives in the window."),
        ] = False,
    ) -> None:
        """Check devices against protocol v1; print pass/fail per device; exit 1 on failure."""
        from edge.devices.checker import format_report, run_check
        from lobbywatch.config.site import BrokerConfig

        broker_cfg, password = _broker(broker, password_file, BrokerConfig())
        reports = run_check(broker_cfg, site, device, seconds, password=password, expect_will=expect_will)
        typer.echo(format_report(reports))
        if not reports or not all(r.passed for r in reports):
            raise typer.Exit(1)

    @groups.simulate.command("devices")
    def simulate_devices(
        config: HallConfigOpt,
        speed: Annotated[
            float, typer.Option("--speed", min=0.01, help="Simulated seconds per real second.")
        ] = 1.0,
        broker: BrokerOpt = None,
        password_file: PasswordFileOpt = None,
        seed: SeedOpt = None,
        duration: Annotated[
            float | None, typer.Option("--duration", help="Stop after this many real seconds.")
        ] = None,
    ) -> None:
        """Simulate every device of a hall (failures, repairs, flapping, network loss) on MQTT."""
        from edge.devices.simulator import run_simulation

        site = load_site_or_exit(config)
        broker_cfg, password = _broker(broker, password_file, site.broker)
        run_simulation(site, broker_cfg, speed=speed, seed=seed, duration=duration, password=password)

    @groups.deploy.command("mqtt-credentials")
    def deploy_mqtt_credentials(
        config: HallConfigOpt,
        out: Annotated[Path, typer.Option("--out", help="Directory for passwd, acl and secrets/.")],
        rotate: Annotated[bool, typer.Option("--rotate", help="New passwords for every user.")] = False,
        tls_dir: Annotated[
            Path | None,
            typer.Option(
                "--tls-dir", help="Directory with ca.crt, server.crt, server.key: adds a TLS listener."
            ),
        ] = None,
        websocket_port: Annotated[
            int | None,
            typer.Option(
                "--websocket-port",
                help="Add an MQTT-over-WebSocket listener for the in-hall wall (e.g. 9001).",
            ),
        ] = None,
    ) -> None:
        """Generate the hall broker's password file (PBKDF2-SHA512) and ACL."""
        from edge.devices.credentials import TlsFiles, write_credentials

        site = load_site_or_exit(config)
        tls = None
        if tls_dir is not None:
            tls = TlsFiles(
                (tls_dir / "ca.crt").resolve(),
                (tls_dir / "server.crt").resolve(),
                (tls_dir / "server.key").resolve(),
            )
            missing = [str(p) for p in (tls.cafile, tls.certfile, tls.keyfile) if not p.exists()]
            if missing:
                raise fail(f"TLS files missing: {', '.join(missing)}", f"缺少 TLS 文件：{', '.join(missing)}")
        made = write_credentials(site, out, keep_existing=not rotate, tls=tls, websocket_port=websocket_port)
        typer.echo(f"password file: {made.password_file}")
        typer.echo(f"acl file:      {made.acl_file}")
        typer.echo(f"broker config: {made.config_file}")
        typer.echo(f"secrets:       {made.secrets_dir} ({len(made.passwords)} users)")
