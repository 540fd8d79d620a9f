"""Read systemd unit files for the deployment tests (keys may repeat, so no configparser)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SYSTEMD_DIR = REPO / "deploy" / "systemd"
INSTALLED_BINARY = "/opt/lobbywatch/.venv/bin/lobbywatch"

# The unit files, and the instance name each template is verified with.
UNITS: dict[str, str] = {
    "lobbywatch-gateway.service": "lobbywatch-gateway.service",
    "lobbywatch-server.service": "lobbywatch-server.service",
    "lobbywatch-vision@.service": "lobbywatch-vision@cam-entrance.service",
    "lobbywatch-device@.service": "lobbywatch-device@kiosk-topup-1.service",
}
JETSON_DROPIN = SYSTEMD_DIR / "lobbywatch-vision-jetson.conf"


@dataclass(frozen=True)
class Setting:
    section: str
    key: str
    value: str
    line: int


def parse_unit(path: Path) -> list[Setting]:
    """Every ``Key=value`` of a unit file, in order, with its section and line number."""
    settings: list[Setting] = []
    section = ""
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        assert "=" in line, f"{path.name}:{number}: not a Key=value line: {raw!r}"
        assert not line.endswith("\\"), f"{path.name}:{number}: continuation lines are not used here"
        key, value = line.split("=", 1)
        settings.append(Setting(section, key.strip(), value.strip(), number))
    return settings


def values(settings: list[Setting], section: str, key: str) -> list[str]:
    return [s.value for s in settings if s.section == section and s.key == key]


def one(settings: list[Setting], section: str, key: str) -> str:
    found = values(settings, section, key)
    assert len(found) == 1, f"[{section}] {key}= appears {len(found)} times, expected once"
    return found[0]


def exec_start(path: Path) -> list[str]:
    """ExecStart of a unit, split like systemd splits it (no specifier expansion)."""
    return shlex.split(one(parse_unit(path), "Service", "ExecStart"))
