"""Hall configuration: the examples pass; broken files give located, readable errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lobbywatch.config import ConfigError, load_site_config
from lobbywatch.protocol.enums import ZoneKind
from system.cli import app
from tests.conftest import EXAMPLES

GOOD = """\
site: hall-001
name: {en: Test hall, zh-CN: 测试营业厅}
opening_hours:
  - {days: [mon, tue, wed, thu, fri], open: "09:00", close: "18:00"}
zones:
  - {id: entrance, kind: entrance}
  - {id: queue-a, kind: queue, capacity: 10}
  - {id: counter-1, kind: counter}
cameras:
  - id: cam-1
    source: /videos/hall.mp4
    zones:
      - {zone: entrance, polygon: [[0, 0], [100, 0], [100, 100]]}
      - {zone: queue-a, polygon: [[100, 0], [200, 0], [200, 100]]}
      - {zone: counter-1, polygon: [[200, 0], [300, 0], [300, 100]]}
counters:
  - {id: c1, zone: counter-1, queue: queue-a}
devices:
  - {id: kiosk-1, kind: top_up_kiosk, vendor: acme, model: K1, zone: entrance}
  - {id: term-1, kind: counter_terminal, vendor: acme, model: T1, counter: c1}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hall-001.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_config_passes(example: Path) -> None:
    cfg = load_site_config(example)
    assert cfg.zones
    assert cfg.thresholds.max_wait_min == 10


def test_defaults_come_from_the_floor_rules(tmp_path: Path) -> None:
    cfg = load_site_config(write(tmp_path, GOOD))
    t = cfg.thresholds
    assert (t.max_wait_min, t.transaction_min, t.new_subscription_min, t.sim_replacement_min) == (
        10,
        3,
        8,
        3,
    )
    assert (t.queue_no_upsell, t.min_working_kiosks) == (3, 2)
    assert cfg.zone("queue-a").kind is ZoneKind.QUEUE
    assert cfg.timezone == "Asia/Shanghai"


BROKEN = [
    pytest.param(
        GOOD.replace("[[200, 0], [300, 0], [300, 100]]", "[[200, 0], [300, 0]]"),
        "hall-001.yaml:15 cameras[0].zones[2].polygon: needs at least 3 points, got 2",
        id="polygon-too-short",
    ),
    pytest.param(
        GOOD.replace("kind: queue,", "kind: queueing,"),
        "hall-001.yaml:7 zones[1].kind: Input should be 'entrance', 'consultation', 'queue'",
        id="unknown-zone-kind",
    ),
    pytest.param(
        GOOD.replace("    source: /videos/hall.mp4\n", "    source: /videos/hall.mp4\n    fps: 5\n"),
        "hall-001.yaml:12 cameras[0].fps: unknown key",
        id="unknown-key",
    ),
    pytest.param(
        GOOD.replace("{zone: queue-a, polygon", "{zone: queue-b, polygon"),
        "hall-001.yaml:14 cameras[0].zones[1].zone: unknown zone 'queue-b'; zones are: entrance",
        id="unknown-zone-reference",
    ),
    pytest.param(
        GOOD.replace("{id: kiosk-1,", "{id: term-1,"),
        "hall-001.yaml:20 devices[1].id: duplicate id 'term-1' (also devices[0])",
        id="duplicate-device",
    ),
    pytest.param(
        GOOD.replace("name: {en: Test hall, zh-CN: 测试营业厅}\n", ""),
        "hall-001.yaml:1 name: required key is missing",
        id="missing-name",
    ),
    pytest.param(
        GOOD.replace('open: "09:00", close: "18:00"', 'open: "18:00", close: "09:00"'),
        "hall-001.yaml:4 opening_hours[0]: close 09:00 must be after open 18:00",
        id="closes-before-opening",
    ),
    pytest.param(
        GOOD + "timezone: Mars/Olympus\n",
        "hall-001.yaml:21 timezone: unknown timezone 'Mars/Olympus'",
        id="bad-timezone",
    ),
    pytest.param(
        GOOD + "thresholds: {queue_no_upsell: 3, queue_no_upsell_clear: 3}\n",
        "hall-001.yaml:21 thresholds: queue_no_upsell_clear (3) must be below queue_no_upsell (3)",
        id="no-hysteresis",
    ),
    pytest.param(
        GOOD.replace("{id: c1, zone: counter-1,", "{id: c1, zone: entrance,"),
        "hall-001.yaml:17 counters[0].zone: zone 'entrance' is a entrance zone, not counter",
        id="counter-in-wrong-zone-kind",
    ),
    pytest.param(
        GOOD.replace("model: T1, counter: c1}", "model: T1}"),
        "hall-001.yaml:20 devices[1].counter: a counter_terminal must name its counter",
        id="terminal-without-counter",
    ),
    pytest.param(
        GOOD.replace(
            "    source: /videos/hall.mp4\n",
            "    source: /videos/hall.mp4\n    counting: {merge: {containment: 0.1}}\n",
        ),
        "hall-001.yaml:12 cameras[0].counting.merge.containment: "
        "Input should be greater than or equal to 0.3",
        id="merge-containment-out-of-range",
    ),
    pytest.param(
        GOOD.replace("    source: /videos/hall.mp4\n", "    source: /videos/hall.mp4\n    imgsz: 960\n"),
        "hall-001.yaml:10 cameras[0]: camera keys moved into its 'counting' block "
        '(docs/vision.md, "Counting"): imgsz -> counting.imgsz',
        id="pre-counting-camera-key",
    ),
    pytest.param(
        GOOD.replace("capacity: 10}", "capacity: -4}"),
        "hall-001.yaml:7 zones[1].capacity: Input should be greater than or equal to 1",
        id="negative-capacity",
    ),
    pytest.param(
        GOOD.replace("site: hall-001", "site: Hall 001/A"),
        "hall-001.yaml:1 site: String should match pattern",
        id="site-id-with-slash",
    ),
    pytest.param(
        GOOD.replace("  - {id: entrance, kind: entrance}\n", "  - {id: entrance, kind: entrance\n"),
        "hall-001.yaml:7: not valid YAML: expected ',' or '}'",
        id="yaml-syntax",
    ),
    pytest.param(
        GOOD + "notifications:\n  routes:\n    - {channels: [nowhere]}\n",
        "hall-001.yaml:21 notifications: routes[0] names unknown channel 'nowhere'",
        id="route-to-unknown-channel",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BROKEN)
def test_broken_config_gives_located_error(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_site_config(write(tmp_path, text))
    messages = [str(issue).replace(str(tmp_path) + "/", "") for issue in info.value.issues]
    assert any(m.startswith(expected) for m in messages), messages


def test_check_command_exit_codes_and_output(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["config", "check", *map(str, sorted(EXAMPLES.glob("*.yaml")))])
    assert ok.exit_code == 0, ok.output
    assert "ok — site sh-pudong-01" in ok.output
    bad = write(tmp_path, GOOD.replace("[[200, 0], [300, 0], [300, 100]]", "[[200, 0]]"))
    result = runner.invoke(app, ["config", "check", str(bad)])
    assert result.exit_code == 1
    assert "hall-001.yaml:15 cameras[0].zones[2].polygon: needs at least 3 points" in result.output


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_site_config(tmp_path / "missing.yaml")


def test_counters_are_looked_up_by_zone_and_by_queue(tmp_path: Path) -> None:
    cfg = load_site_config(write(tmp_path, GOOD))
    assert cfg.counters_at("counter-1") == ["c1"]
    assert cfg.counters_serving("queue-a") == ["c1"]
    assert cfg.counters_at("queue-a") == cfg.counters_serving("counter-1") == []
    cfg.counters_at("counter-1").append("x")  # callers get a copy, the index stays intact
    assert cfg.counters_at("counter-1") == ["c1"]
