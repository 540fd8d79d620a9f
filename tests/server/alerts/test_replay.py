"""``lobbywatch alerts test --config HALL.yaml --replay FILE.jsonl``."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import typer
import yaml
from typer.testing import CliRunner

from lobbywatch.clock import FixedClock
from lobbywatch.protocol.codec import to_dict
from lobbywatch.protocol.enums import ZoneKind
from lobbywatch.protocol.messages import DeviceEvent, ZoneState
from lobbywatch.protocol.sequence import Stamper
from server.alerts.cli import register

from .helpers_hall import hall_dict


def _app() -> typer.Typer:
    app = typer.Typer()
    alerts = typer.Typer()
    app.add_typer(alerts, name="alerts")
    register(cast(Any, SimpleNamespace(alerts=alerts)))
    return app


def _invoke(config: Path, replay_file: Path) -> Any:
    return CliRunner().invoke(
        _app(), ["alerts", "test", "--config", str(config), "--replay", str(replay_file)]
    )


def test_replay_prints_alerts_with_times(tmp_path: Path, site_id: str, clock: FixedClock) -> None:
    cfg_path = tmp_path / "hall.yaml"
    cfg_path.write_text(yaml.safe_dump(hall_dict(site_id), allow_unicode=True))
    cam = Stamper(site_id, "cam-1", clock=clock)
    kiosk = Stamper(site_id, "k1", clock=clock)
    lines: list[str] = []
    for i in range(0, 100, 5):  # entrance over capacity for 95 s of recorded time
        zone = cam.make(
            ZoneState,
            zone="entrance",
            kind=ZoneKind.ENTRANCE,
            occupancy=7,
            count=7,
            entered_total=i,
            exited_total=0,
        )
        lines.append(json.dumps(to_dict(zone)))
        clock.advance(5)
    lines.append('{"v": 1, "type": "zone_state"}')  # a bad line is reported, not fatal
    lines.append(json.dumps(to_dict(kiosk.make(DeviceEvent, event="fault_raised", code="PRN_PAPER_OUT"))))
    replay_file = tmp_path / "day.jsonl"
    replay_file.write_text("\n".join(lines) + "\n")

    result = _invoke(cfg_path, replay_file)
    assert result.exit_code == 0, result.output
    out = result.stdout.splitlines()
    crowding = [line for line in out if "crowding" in line]
    # fired 60 s after the first over-capacity reading: 09:31:00 hall-local (01:31 UTC)
    assert len(crowding) == 1
    assert crowding[0].startswith("2026-11-23 09:31:00 fired")
    assert "Crowding: Entrance" in crowding[0]
    assert "拥挤：进厅" in crowding[0]
    faults = [line for line in out if "device_fault" in line]
    assert len(faults) == 1
    assert "Device fault: k1" in faults[0]
    assert faults[0].startswith("2026-11-23 09:31:40 fired")
    assert "alerts fired" in out[-1]
    assert f"{replay_file}:21: skipped" in result.stderr


def test_replay_reports_bad_config(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("site: X\n")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    result = _invoke(bad, empty)
    assert result.exit_code == 2
    assert "site" in result.stderr
