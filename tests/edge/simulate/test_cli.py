"""End to end: ``lobbywatch simulate hall`` on a real Mosquitto at high speed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from lobbywatch.protocol.codec import decode
from lobbywatch.protocol.enums import Presence
from lobbywatch.protocol.messages import CameraStatus, CounterState, ZoneState
from lobbywatch.services import Mosquitto
from system.cli import app
from tests.edge.simulate.helpers_simulate import TELECOM


def _hall_file(tmp_path: Path, site_id: str) -> Path:
    data = yaml.safe_load(TELECOM.read_text(encoding="utf-8"))
    data["site"] = site_id
    path = tmp_path / "hall.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_simulate_hall_publishes_valid_retained_states(
    tmp_path: Path, site_id: str, mosquitto: Mosquitto, mqtt_probe: Callable[..., Any]
) -> None:
    report_path = tmp_path / "truth.json"
    result = CliRunner().invoke(
        app,
        [
            "simulate", "hall",
            "--config", str(_hall_file(tmp_path, site_id)),
            "--broker", mosquitto.url,
            "--speed", "600",
            "--start", "2026-11-23T10:00:00+08:00",
            "--seed", "3",
            "--scenario", "busy-morning",
            "--duration-min", "4",
            "--truth-report", str(report_path),
            "--tickets",
            "--ticket-share", "0",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "truth report / 真值报告" in result.output
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["site"] == site_id
    assert report["simulated_s"] >= 240
    assert report["arrivals"] > 0
    waited = [v for v in report["visits"] if v["ticket"] is not None]
    assert waited
    assert not any(v["ticket"] for v in waited)  # --ticket-share 0: every queuer walks in

    # after the run, the broker holds the retained states: a new subscriber gets them
    probe = mqtt_probe(f"lobbywatch/v1/{site_id}/#")
    zone_states: dict[str, ZoneState] = {}
    counters: dict[str, CounterState] = {}
    cameras: dict[str, CameraStatus] = {}
    want_zones = {cz.zone for cam in ("cam-entrance", "cam-counters") for cz in _zones(cam)}
    while len(zone_states) < len(want_zones) or len(counters) < 4 or len(cameras) < 2:
        got = probe.get(timeout=10)
        assert got.retain, got.topic
        message = decode(got.payload, topic=got.topic)
        if isinstance(message, ZoneState):
            zone_states[message.zone] = message
        elif isinstance(message, CounterState):
            counters[message.counter] = message
        elif isinstance(message, CameraStatus):
            cameras[message.source] = message
    assert set(zone_states) == want_zones
    assert set(counters) == {"c1", "c2", "c3", "c4"}
    assert {m.source for m in counters.values()} == {"term-c1", "term-c2", "term-c3", "term-c4"}
    # a clean stop leaves each camera offline, by the simulator, not by its last-will
    assert all(c.state == Presence.OFFLINE and not c.will for c in cameras.values())


def _zones(camera: str) -> list[Any]:
    from lobbywatch.config.site import load_site_config

    return list(load_site_config(TELECOM).camera(camera).zones)


def test_bad_arguments_are_named() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["simulate", "hall", "--config", str(TELECOM), "--scenario", "nope"])
    assert result.exit_code == 2
    assert "unknown scenario 'nope'" in result.output
    assert "未知场景" in result.output
    result = runner.invoke(app, ["simulate", "hall", "--config", str(TELECOM), "--start", "09:00"])
    assert result.exit_code == 2
    assert "--start '09:00'" in result.output
    result = runner.invoke(app, ["simulate", "hall", "--config", str(TELECOM), "--ticket-share", "1.5"])
    assert result.exit_code == 2
    assert "--ticket-share" in result.output
