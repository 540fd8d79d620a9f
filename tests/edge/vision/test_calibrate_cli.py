"""``edge calibrate`` end to end with the real model on generated snapshots of known count.

Snapshots are ultralytics' bundled pictures pasted on a plain background: zidane.jpg (two
people) and bus.jpg (four people; at these scales the model finds them at thresholds 0.2-0.5,
none at 0.9). The hall file's camera starts from a deliberately bad threshold, so
the search must find a better one on the search part and show it on the held-out part.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import ultralytics
from typer.testing import CliRunner

from lobbywatch.config import load_site_config
from system.cli import app

ASSETS = Path(ultralytics.__file__).parent / "assets"
EXAMPLE = Path(__file__).resolve().parents[3] / "deploy" / "examples" / "telecom-hall.yaml"
BAD_BLOCK = '      slicing: {mode: "off"}   # deliberately bad: the installer will calibrate'


def _snapshots(folder: Path) -> Path:
    """10 snapshots 960x540: bus only (4 people), zidane only (2) or both (6)."""
    folder.mkdir()
    zidane = cv2.imread(str(ASSETS / "zidane.jpg"))
    bus = cv2.imread(str(ASSETS / "bus.jpg"))
    assert zidane is not None
    assert bus is not None
    rows = ["image,persons"]
    for i in range(10):
        canvas = np.full((540, 960, 3), 60 + 15 * i, np.uint8)
        kinds = ("bus", "zidane", "both")[i % 3]
        n = 0
        if kinds in ("bus", "both"):
            b = cv2.resize(bus, None, fx=0.45 + 0.01 * i, fy=0.45 + 0.01 * i)
            canvas[: b.shape[0], 10 * i : 10 * i + b.shape[1]] = b[:540]
            n += 4
        if kinds in ("zidane", "both"):
            z = cv2.resize(zidane, None, fx=0.4, fy=0.4)
            canvas[540 - z.shape[0] :, 960 - z.shape[1] :] = z
            n += 2
        cv2.imwrite(str(folder / f"snap{i:02d}.jpg"), canvas)
        rows.append(f"snap{i:02d}.jpg,{n}")
    truth = folder.parent / "counts.csv"
    truth.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return truth


def _bad_hall(tmp_path: Path) -> Path:
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace("      confidence: 0.2\n", "      confidence: 0.9\n", 1)
    old = "      slicing: {mode: adaptive, confidence: 0.15, min_person_px: 160, target_person_px: 160}"
    assert old in text
    hall = tmp_path / "hall.yaml"
    hall.write_text(text.replace(old, BAD_BLOCK), encoding="utf-8")
    return hall


@pytest.mark.real
def test_calibrate_finds_better_settings_and_writes_them_keeping_the_file(
    tmp_path: Path, onnx_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOBBYWATCH_MODEL", str(onnx_model))
    truth = _snapshots(tmp_path / "snaps")
    hall = _bad_hall(tmp_path)
    args = ["edge", "calibrate", "--config", str(hall), "--camera", "cam-counters"]
    args += ["--images", str(tmp_path / "snaps"), "--truth", str(truth), "--max-passes", "12"]

    dry = CliRunner().invoke(app, args)
    assert dry.exit_code == 0, dry.output
    assert "7 searched, 3 held out" in dry.stdout
    assert "7 张用于搜索，3 张留作检验" in dry.stdout
    before = re.search(r"held-out error before: MAE ([0-9.]+)", dry.stdout)
    after = re.search(r"held-out error after: MAE ([0-9.]+)", dry.stdout)
    assert before is not None
    assert after is not None
    assert float(after[1]) < float(before[1])
    assert "留出集误差（调整后）：平均绝对误差" in dry.stdout
    assert "chosen: full-frame threshold" in dry.stdout
    # the camera runs the bundled near model beside its model: its threshold is searched too
    assert "; near-model threshold " in dry.stdout
    assert "；近景模型阈值 " in dry.stdout
    assert "over the pass budget" in dry.stdout  # 12 passes: no new slicing plan fits
    assert "run again with --write" in dry.stdout
    assert BAD_BLOCK in hall.read_text(encoding="utf-8")  # no --write: untouched

    r = CliRunner().invoke(app, [*args, "--write"])
    assert r.exit_code == 0, r.output
    assert f"written to {hall}" in r.stdout
    text = hall.read_text(encoding="utf-8")
    assert "# deliberately bad: the installer will calibrate" in text
    assert "# A mid-size telecom business hall" in text
    counting = {c.id: c.counting for c in load_site_config(hall).cameras}["cam-counters"]
    assert counting.confidence < 0.9
    assert "      near_confidence: " in text
    check = CliRunner().invoke(app, ["config", "check", str(hall)])
    assert check.exit_code == 0, check.output

    # calibrated: the same search now finds nothing better and leaves the file alone
    written = hall.read_text(encoding="utf-8")
    again = CliRunner().invoke(app, [*args, "--write"])
    assert again.exit_code == 0, again.output
    assert "the camera's current settings are already best" in again.stdout
    assert "该摄像头的现有设置已是最佳" in again.stdout
    assert hall.read_text(encoding="utf-8") == written


@pytest.mark.real
def test_a_bad_truth_file_or_budget_is_a_bilingual_error(
    tmp_path: Path, onnx_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOBBYWATCH_MODEL", str(onnx_model))
    truth = _snapshots(tmp_path / "snaps")
    truth.write_text(truth.read_text(encoding="utf-8") + "snap03.jpg,7\n", encoding="utf-8")
    hall = tmp_path / "hall.yaml"
    shutil.copy(EXAMPLE, hall)
    args = ["edge", "calibrate", "--config", str(hall), "--camera", "cam-counters"]
    r = CliRunner().invoke(
        app, [*args, "--images", str(tmp_path / "snaps"), "--truth", str(truth), "--write"]
    )
    assert r.exit_code == 2
    assert f"{truth}:12: snap03.jpg is counted twice (first on line 5)" in r.stderr
    assert "错误：输入有误" in r.stderr
    assert hall.read_text(encoding="utf-8") == EXAMPLE.read_text(encoding="utf-8")

    truth.write_text("\n".join(truth.read_text(encoding="utf-8").splitlines()[:-1]) + "\n", encoding="utf-8")
    r = CliRunner().invoke(
        app, [*args, "--images", str(tmp_path / "snaps"), "--truth", str(truth), "--max-passes", "1"]
    )
    assert r.exit_code == 2
    assert "--max-passes 1 does not cover even the camera's current settings" in r.stderr
