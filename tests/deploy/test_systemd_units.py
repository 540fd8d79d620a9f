"""The systemd units pass ``systemd-analyze verify``, and carry the promised policies.

``systemd-analyze verify`` parses unit files offline (systemd need not be PID 1). It warns
about unknown keys and bad values on stderr but still exits 0, so these tests demand an
empty output, not just exit status 0. The one complaint accepted, on the files as shipped,
is that ``/opt/lobbywatch/.venv/bin/lobbywatch`` is not installed on the test machine; a
copy whose ExecStart names an existing executable must verify with no output at all.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.helpers_units import (
    INSTALLED_BINARY,
    JETSON_DROPIN,
    SYSTEMD_DIR,
    UNITS,
    one,
    parse_unit,
    values,
)


def _analyze() -> str:
    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.fail(
            "systemd-analyze is not installed, so the units cannot be verified; "
            "install the 'systemd' package (scripts/setup.sh does)"
        )
    return exe


def _verify(unit_dir: Path, unit: str) -> subprocess.CompletedProcess[str]:
    # Run from the unit's folder with a relative name: verify adds the folder to its search
    # path, so templates, instances and drop-ins (NAME.d/*.conf) resolve as when installed.
    return subprocess.run(
        [_analyze(), "verify", "--man=no", f"./{unit}"],
        cwd=unit_dir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "SYSTEMD_LOG_COLOR": "0", "SYSTEMD_COLORS": "0"},
    )


def _output(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]


def _assert_clean(name: str, result: subprocess.CompletedProcess[str]) -> None:
    complaints = "\n".join(_output(result))
    assert result.returncode == 0, f"{name}: systemd-analyze verify exit {result.returncode}:\n{complaints}"
    assert not complaints, f"{name}: systemd-analyze verify complained:\n{complaints}"


def _stub_copy(tmp_path: Path, *, jetson: bool = False) -> Path:
    """The units in a scratch folder, ExecStart pointing at an executable stub."""
    stub = tmp_path / "bin" / "lobbywatch"
    stub.parent.mkdir()
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    out = tmp_path / "units"
    out.mkdir()
    for name in UNITS:
        text = (SYSTEMD_DIR / name).read_text(encoding="utf-8")
        assert INSTALLED_BINARY in text
        (out / name).write_text(text.replace(INSTALLED_BINARY, str(stub)), encoding="utf-8")
    if jetson:
        dropin = out / "lobbywatch-vision@.service.d"
        dropin.mkdir()
        shutil.copy(JETSON_DROPIN, dropin / "jetson.conf")
    return out


@pytest.mark.real
def test_systemd_analyze_runs_here(tmp_path: Path) -> None:
    """Verify works in this container; a known-good unit gives no output, a typo does."""
    good = tmp_path / "probe.service"
    good.write_text("[Unit]\nDescription=probe\n[Service]\nExecStart=/bin/true\n")
    result = _verify(tmp_path, good.name)
    problem = (
        "systemd-analyze verify cannot check units on this machine; a trivial valid unit gave "
        f"exit {result.returncode}: {result.stdout}{result.stderr}"
    )
    assert result.returncode == 0, problem
    assert not _output(result), problem
    bad = tmp_path / "typo.service"
    bad.write_text("[Service]\nExecStart=/bin/true\nProtectSytem=strict\nRestartSec=soon\n")
    lines = _output(_verify(tmp_path, bad.name))
    assert any("ProtectSytem" in line for line in lines), lines
    assert any("typo.service:4:" in line for line in lines), lines  # the bad RestartSec value


@pytest.mark.parametrize(("name", "instance"), UNITS.items())
@pytest.mark.real
def test_unit_verifies_clean_with_an_existing_executable(tmp_path: Path, name: str, instance: str) -> None:
    result = _verify(_stub_copy(tmp_path), instance)
    _assert_clean(name, result)


@pytest.mark.real
def test_vision_unit_with_jetson_dropin_verifies_clean(tmp_path: Path) -> None:
    units = _stub_copy(tmp_path, jetson=True)
    result = _verify(units, UNITS["lobbywatch-vision@.service"])
    _assert_clean("vision + jetson drop-in", result)
    # The drop-in was really read: a deliberate typo in it is reported.
    dropin = units / "lobbywatch-vision@.service.d" / "jetson.conf"
    dropin.write_text(dropin.read_text() + "DevicePolicyy=auto\n")
    assert any("DevicePolicyy" in line for line in _output(_verify(units, "lobbywatch-vision@x.service")))


@pytest.mark.parametrize(("name", "instance"), UNITS.items())
@pytest.mark.real
def test_shipped_unit_only_lacks_the_installed_executable(name: str, instance: str) -> None:
    result = _verify(SYSTEMD_DIR, instance)
    lines = _output(result)
    if Path(INSTALLED_BINARY).exists():
        _assert_clean(name, result)
        return
    allowed = re.compile(
        rf"^{re.escape(instance)}: Command {re.escape(INSTALLED_BINARY)} is not executable: "
        r"No such file or directory$"
    )
    unexpected = [line for line in lines if not allowed.match(line)]
    assert not unexpected, f"{name}: unexpected complaints:\n" + "\n".join(unexpected)
    assert lines, "expected the missing-executable complaint; did verify check ExecStart at all?"


# ----------------------------------------------------------------------------- policies

HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "CapabilityBoundingSet": "",
    "StateDirectory": "lobbywatch",
    "ReadWritePaths": "/var/lib/lobbywatch",
    "WorkingDirectory": "/var/lib/lobbywatch",
    "User": "lobbywatch",
    "Group": "lobbywatch",
    "Restart": "on-failure",
    "LockPersonality": "yes",
    "RestrictSUIDSGID": "yes",
    "SystemCallArchitectures": "native",
}


@pytest.mark.parametrize("name", list(UNITS))
def test_unit_restarts_and_is_hardened(name: str) -> None:
    settings = parse_unit(SYSTEMD_DIR / name)
    for key, expected in HARDENING.items():
        assert one(settings, "Service", key) == expected, f"{name}: {key}"
    assert one(settings, "Service", "RestartSec")
    assert one(settings, "Unit", "StartLimitIntervalSec")
    assert int(one(settings, "Unit", "StartLimitBurst")) >= 1
    assert one(settings, "Service", "MemoryMax").endswith(("M", "G"))
    assert "@system-service" in values(settings, "Service", "SystemCallFilter")
    families = one(settings, "Service", "RestrictAddressFamilies").split()
    assert {"AF_INET", "AF_INET6", "AF_UNIX"} <= set(families)
    assert "network-online.target" in one(settings, "Unit", "Wants").split()
    assert "network-online.target" in one(settings, "Unit", "After").split()
    assert one(settings, "Install", "WantedBy") == "multi-user.target"


def test_hall_daemons_start_after_the_broker() -> None:
    for name in ("lobbywatch-gateway.service", "lobbywatch-vision@.service", "lobbywatch-device@.service"):
        assert "mosquitto.service" in one(parse_unit(SYSTEMD_DIR / name), "Unit", "After").split(), name


def test_vision_unit_may_open_cameras_and_never_downloads() -> None:
    settings = parse_unit(SYSTEMD_DIR / "lobbywatch-vision@.service")
    assert one(settings, "Service", "PrivateDevices") == "no"
    assert one(settings, "Service", "DevicePolicy") == "closed"
    assert "char-video4linux rw" in values(settings, "Service", "DeviceAllow")
    assert "video" in one(settings, "Service", "SupplementaryGroups").split()
    env = dict(v.split("=", 1) for v in values(settings, "Service", "Environment"))
    assert env["YOLO_OFFLINE"] == "1"
    assert env["YOLO_AUTOINSTALL"] == "0"
    assert env["YOLO_CONFIG_DIR"].startswith("/var/lib/lobbywatch/")
    for name in ("lobbywatch-gateway.service", "lobbywatch-device@.service", "lobbywatch-server.service"):
        assert one(parse_unit(SYSTEMD_DIR / name), "Service", "PrivateDevices") == "yes", name


def test_jetson_dropin_opens_the_gpu() -> None:
    """DevicePolicy=auto only opens everything once the inherited allow-list is reset."""
    settings = parse_unit(JETSON_DROPIN)
    assert values(settings, "Service", "DeviceAllow") == [""]
    assert one(settings, "Service", "DevicePolicy") == "auto"
    assert "render" in one(settings, "Service", "SupplementaryGroups").split()


def test_command_lines_name_the_instance() -> None:
    def cmd(name: str) -> str:
        return one(parse_unit(SYSTEMD_DIR / name), "Service", "ExecStart")

    config = "--config /etc/lobbywatch/hall.yaml"
    assert cmd("lobbywatch-vision@.service") == (
        f"{INSTALLED_BINARY} edge vision {config} --camera %i $LOBBYWATCH_VISION_ARGS"
    )
    assert cmd("lobbywatch-device@.service") == (
        f"{INSTALLED_BINARY} edge device {config} --device %i $LOBBYWATCH_DEVICE_ARGS"
    )
    assert (
        cmd("lobbywatch-gateway.service")
        == f"{INSTALLED_BINARY} gateway run {config} $LOBBYWATCH_GATEWAY_ARGS"
    )
    assert cmd("lobbywatch-server.service") == (
        f"{INSTALLED_BINARY} server run --config /etc/lobbywatch/server.yaml"
    )


@pytest.mark.parametrize(
    ("name", "variable", "env_file"),
    [
        ("lobbywatch-vision@.service", "LOBBYWATCH_VISION_ARGS", "-/etc/lobbywatch/vision-%i.env"),
        ("lobbywatch-device@.service", "LOBBYWATCH_DEVICE_ARGS", "-/etc/lobbywatch/device-%i.env"),
        ("lobbywatch-gateway.service", "LOBBYWATCH_GATEWAY_ARGS", "-/etc/lobbywatch/gateway.env"),
    ],
)
def test_per_instance_options_come_from_an_optional_env_file(name: str, variable: str, env_file: str) -> None:
    """Unbraced $VAR splits into words, and an unset one adds no argument at all."""
    settings = parse_unit(SYSTEMD_DIR / name)
    assert env_file in values(settings, "Service", "EnvironmentFile")
    assert one(settings, "Service", "ExecStart").endswith(f" ${variable}")
