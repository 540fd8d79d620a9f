"""Built-in checks, the `report` CLI and the credentials command."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from edge.devices.agent import DeviceAgent
from edge.devices.checks import CheckRunner, CommandCheck, DiskCheck, ProcessCheck, UrlCheck, load_checks
from edge.devices.credentials import device_user, verify_password
from edge.devices.faults import FaultCatalogue
from lobbywatch.clock import FixedClock
from lobbywatch.config import ConfigError
from lobbywatch.config.site import BrokerConfig
from lobbywatch.services import free_port, wait_until
from system.cli import app
from tests.edge.devices.helpers_devices import EXAMPLE, KIOSK, hall


@pytest.mark.real
def test_command_check_raises_and_clears(tmp_path: Path) -> None:
    flag = tmp_path / "printer-ok"
    check = CommandCheck(
        type="command", command=["test", "-e", str(flag)], code="PRN_JAM", every_s=10, fail_after=2
    )
    runner = CheckRunner([check])
    assert runner.run_due(0) == []  # first failure: not yet
    assert runner.run_due(5) == []  # not due
    changes = runner.run_due(10)
    assert [(c, r) for c, r, _ in changes] == [("PRN_JAM", True)]
    assert "exited 1" in (changes[0][2] or "")
    flag.touch()
    assert runner.run_due(20) == [("PRN_JAM", False, None)]


def test_other_checks() -> None:
    assert DiskCheck(type="disk", path=Path("/"), min_free_pct=99.999).run() is not None
    assert DiskCheck(type="disk", path=Path("/"), min_free_pct=0.001).run() is None
    assert ProcessCheck(type="process", name="no-such-process-xyz").run() is not None
    assert ProcessCheck(type="process", name="pytest").run() is None
    bad_url = f"http://127.0.0.1:{free_port()}/health"
    assert "did not answer" in (UrlCheck(type="url", url=bad_url, timeout_s=1).run() or "")


def test_agent_runs_checks(site_id: str, broker_cfg: BrokerConfig, tmp_path: Path, clock: FixedClock) -> None:
    flag = tmp_path / "ok"
    check = CommandCheck(type="command", command=["test", "-e", str(flag)], code="PRN_JAM", every_s=30)
    agent = DeviceAgent(
        hall(site_id), KIOSK, state_dir=tmp_path / "st", broker=broker_cfg, clock=clock, checks=[check]
    ).start()
    try:
        assert wait_until(lambda: "PRN_JAM" in agent.state.faults and agent.state.out_of_service, 10)
        assert agent.state.oos_by == "fault"
        flag.touch()
        clock.advance(30)
        assert wait_until(lambda: not agent.state.faults and not agent.state.out_of_service, 10)
    finally:
        agent.stop()


def test_checks_file_errors_are_located(tmp_path: Path) -> None:
    path = tmp_path / "checks.yaml"
    path.write_text(
        "checks:\n  - {type: disk, min_free_pct: 10}\n  - {type: command, command: [x], code: NOPE_CODE}\n"
    )
    with pytest.raises(ConfigError, match=r"checks.yaml:3 checks\[1\].code: unknown fault code 'NOPE_CODE'"):
        load_checks(path, {f.code for f in FaultCatalogue()})
    path.write_text("checks:\n  - {type: ping, host: x}\n")
    with pytest.raises(ConfigError, match=r"checks.yaml:2 checks\[0\]"):
        load_checks(path)


def test_report_cli_talks_to_the_agent(site_id: str, broker_cfg: BrokerConfig, tmp_path: Path) -> None:
    port = free_port()
    agent = DeviceAgent(hall(site_id), KIOSK, state_dir=tmp_path, broker=broker_cfg, http_port=port).start()
    try:
        r = CliRunner().invoke(
            app, ["edge", "device", "report", "--code", "PRN_PAPER_OUT", "--port", str(port)]
        )
        assert r.exit_code == 0, r.output
        assert "PRN_PAPER_OUT" in agent.state.faults
        r = CliRunner().invoke(
            app, ["edge", "device", "report", "--code", "PRN_PAPER_OUT", "--clear", "--port", str(port)]
        )
        assert r.exit_code == 0
        assert not agent.state.faults
        r = CliRunner().invoke(app, ["edge", "device", "report", "--code", "NOPE", "--port", str(port)])
        assert r.exit_code == 1
    finally:
        agent.stop()
    r = CliRunner().invoke(app, ["edge", "device", "report", "--code", "PRN_JAM", "--port", str(port)])
    assert r.exit_code == 2
    assert "no agent answers" in r.output


def test_mqtt_credentials_command(tmp_path: Path) -> None:
    out = tmp_path / "creds"
    r = CliRunner().invoke(app, ["deploy", "mqtt-credentials", "--config", str(EXAMPLE), "--out", str(out)])
    assert r.exit_code == 0, r.output
    lines = dict(line.split(":", 1) for line in (out / "passwd").read_text().splitlines())
    user = device_user("kiosk-topup-1")
    password = (out / "secrets" / f"{user}.password").read_text().strip()
    assert verify_password(password, lines[user])
    assert {"gateway", "cam.cam-entrance", "dev.term-c4"} <= set(lines)
    assert "server" not in lines  # the central server never connects to a hall broker
    acl = (out / "acl").read_text()
    assert f"user {user}\ntopic read lobbywatch/v1/sh-pudong-01/device/kiosk-topup-1/downlink\n" in acl
    assert "topic write lobbywatch/v1/sh-pudong-01/device/kiosk-topup-1/counter/#" in acl
    # re-running keeps passwords (adding a device must not lock the others out)
    CliRunner().invoke(app, ["deploy", "mqtt-credentials", "--config", str(EXAMPLE), "--out", str(out)])
    assert (out / "secrets" / f"{user}.password").read_text().strip() == password


def test_agent_command_rejects_bad_arguments(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["edge", "device", "--config", str(EXAMPLE), "--device", "kiosk-nope"])
    assert r.exit_code == 2
    assert "device 'kiosk-nope' is not in" in r.output
    r = CliRunner().invoke(app, ["edge", "device"])
    assert r.exit_code == 2
    assert "--config and --device are required" in r.output
    checks = tmp_path / "checks.yaml"
    checks.write_text("checks:\n  - {type: disk, min_free_pct: 200}\n")
    r = CliRunner().invoke(
        app,
        ["edge", "device", "--config", str(EXAMPLE), "--device", "kiosk-topup-1", "--checks", str(checks)],
    )
    assert r.exit_code == 2  # a broken config file exits 2 in every command (lobbywatch/cli_options.py)
    assert "checks.yaml:2 checks[0].disk.min_free_pct: Input should be less than 100" in r.output


def test_heartbeat_carries_vitals(site_id: str, broker_cfg: BrokerConfig, tmp_path: Path) -> None:
    from lobbywatch.protocol.messages import DeviceHeartbeat
    from tests.edge.devices.helpers_devices import recorder

    rec = recorder(broker_cfg.port, f"lobbywatch/v1/{site_id}/device/{KIOSK}/heartbeat")
    agent = DeviceAgent(hall(site_id), KIOSK, state_dir=tmp_path, broker=broker_cfg).start()
    try:
        assert rec.wait_for(lambda _: rec.of_type("device_heartbeat"))
        hb = rec.of_type("device_heartbeat")[0]
        assert isinstance(hb, DeviceHeartbeat)
        assert hb.interval_s == 30
        assert hb.vitals.outbox_backlog is not None
        assert hb.vitals.disk_free_pct is not None
        assert hb.vitals.mem_pct is not None
    finally:
        agent.stop()
        rec.close()
