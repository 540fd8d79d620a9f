"""Calibration writes a camera's counting settings into the hall file, keeping its comments."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edge.vision.calibrate import Knobs
from edge.vision.hall_file_edit import HallFileEditError, write_counting
from lobbywatch.config import load_site_config
from lobbywatch.config.counting import CountingConfig, SlicingMode
from system.cli import app

EXAMPLE = Path(__file__).resolve().parents[3] / "deploy" / "examples" / "telecom-hall.yaml"
CHOSEN = {
    "confidence": 0.3,
    "slicing": {"mode": "off"},  # YAML 1.1 reads a bare off as false: it must come out quoted
    "merge": {"containment": 0.9},
}


def test_written_settings_keep_every_other_line_and_pass_config_check(tmp_path: Path) -> None:
    hall = tmp_path / "hall.yaml"
    shutil.copy(EXAMPLE, hall)
    before = hall.read_text(encoding="utf-8").splitlines()

    write_counting(hall, "cam-counters", CHOSEN)
    write_counting(hall, "cam-entrance", {"slicing": {"mode": "adaptive", "min_person_px": 120.0}})

    after = hall.read_text(encoding="utf-8").splitlines()
    changed = {i for i, line in enumerate(before) if "confidence: 0.2" in line or "slicing: {" in line}
    kept = [line for i, line in enumerate(before) if i not in changed]
    it = iter(after)
    assert all(line in it for line in kept), "a line of the original is gone or out of order"
    assert '    counting:                 # the defaults, written out (docs/vision.md, "Counting")' in after
    cams = {c.id: c.counting for c in load_site_config(hall).cameras}
    assert cams["cam-counters"].confidence == 0.3
    assert cams["cam-counters"].slicing.mode == "off"
    assert cams["cam-counters"].slicing.target_person_px == 160  # untouched keys stay
    assert cams["cam-counters"].merge.containment == 0.9
    assert cams["cam-entrance"].slicing.min_person_px == 120
    assert "min_person_px: 120\n" in hall.read_text(encoding="utf-8")  # whole numbers stay whole
    r = CliRunner().invoke(app, ["config", "check", str(hall)])
    assert r.exit_code == 0, r.output
    assert "ok" in r.stdout


def test_an_unknown_camera_is_named_and_the_file_left_alone(tmp_path: Path) -> None:
    hall = tmp_path / "hall.yaml"
    shutil.copy(EXAMPLE, hall)
    with pytest.raises(HallFileEditError, match="no camera 'cam-x'"):
        write_counting(hall, "cam-x", CHOSEN)
    assert hall.read_text(encoding="utf-8") == EXAMPLE.read_text(encoding="utf-8")


def test_a_near_threshold_is_written_only_for_a_camera_searched_with_a_near_model(tmp_path: Path) -> None:
    hall = tmp_path / "hall.yaml"
    shutil.copy(EXAMPLE, hall)
    with_near = Knobs(0.3, SlicingMode.ADAPTIVE, 120.0, 0.25, 0.9, near_confidence=0.05)
    without = Knobs(0.3, SlicingMode.ADAPTIVE, 120.0, 0.25, 0.9)

    write_counting(hall, "cam-counters", with_near.as_block())
    write_counting(hall, "cam-entrance", without.as_block())

    cams = {c.id: c.counting for c in load_site_config(hall).cameras}
    assert cams["cam-counters"].near_confidence == 0.05
    assert cams["cam-entrance"].near_confidence == CountingConfig().near_confidence
    assert hall.read_text(encoding="utf-8").count("near_confidence") == 1
    r = CliRunner().invoke(app, ["config", "check", str(hall)])
    assert r.exit_code == 0, r.output
    assert "ok" in r.stdout
