"""The demo's generated configuration: hall copies, the halls it runs, start time, run
directory safety."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from lobbywatch.config import load_site_config
from lobbywatch.config.site import OpeningPeriod, SiteConfig, Weekday
from server.opening_hours import config_periods, opening_intervals
from system.demo import parse_start
from system.demo_day import all_open_start, day_lines
from system.demo_files import DEMO_HALLS, EXAMPLES, MARKER, claim_run_dir, write_hall


def test_hall_copy_points_at_the_demo_broker_and_server(tmp_path: Path) -> None:
    hall, extra = write_hall(EXAMPLES / "telecom-hall.yaml", tmp_path, 18830, "http://127.0.0.1:8123", None)
    cfg = load_site_config(hall.config)
    assert cfg.broker.port == 18830
    assert cfg.gateway.server_url == "http://127.0.0.1:8123"
    assert cfg.gateway.token_file == hall.gateway_token_file
    assert hall.gateway_token_file.read_text().strip()
    assert cfg.gateway.outbox.is_relative_to(tmp_path)
    assert [c.type for c in cfg.notifications.channels] == ["mqtt"]  # no network in a demo
    assert hall.sim_config == hall.config
    assert {t["role"] for t in extra["tokens"]} == {"gateway", "display", "guide"}
    assert all(t["sites"] == [cfg.site] for t in extra["tokens"])
    assert hall.guide_token
    assert hall.guide_token != hall.display_token


def _shared_zones(cfg: SiteConfig) -> set[str]:
    """Zones two or more calibrated cameras show (their views overlap there)."""
    seen = [z.zone for cam in cfg.cameras if cam.floor is not None for z in cam.zones]
    return {zone for zone in seen if seen.count(zone) >= 2}


def test_the_demo_runs_halls_with_staff_and_one_with_overlapping_views(tmp_path: Path) -> None:
    """Staff stand at the telecom hall's and the bank branch's guide desks; in the third hall
    two calibrated cameras both show the counter queue (the handover, issue #17)."""
    configs = [
        load_site_config(write_hall(t, tmp_path, 1883, "http://x", None)[0].config) for t in DEMO_HALLS
    ]
    assert len({c.site for c in configs}) == len(configs) == 3
    assert sum(1 for c in configs if any(cam.staff is not None for cam in c.cameras)) >= 2
    overlapping = [c for c in configs if _shared_zones(c)]
    assert [c.site for c in overlapping] == ["sim-two-views"]
    assert _shared_zones(overlapping[0]) == {"queue-main"}
    assert len({c.timezone for c in configs}) == 1  # one timeline, one local time


def test_video_replaces_one_simulated_camera(tmp_path: Path) -> None:
    video = tmp_path / "lobby.mp4"
    video.write_bytes(b"")
    hall, _ = write_hall(EXAMPLES / "telecom-hall.yaml", tmp_path, 1883, "http://127.0.0.1:8000", video)
    real = load_site_config(hall.config)
    sim = load_site_config(hall.sim_config)
    cam = real.camera(hall.video_camera or "")
    assert cam.source == str(video.resolve())
    assert cam.loop
    assert hall.video_camera not in [c.id for c in sim.cameras]
    assert len(sim.cameras) == len(real.cameras) - 1


def test_start_is_local_hall_time() -> None:
    tz = ZoneInfo("Asia/Shanghai")
    default = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    assert parse_start(None, tz, default) == default
    start = parse_start("08:30", tz, default)
    assert start.astimezone(tz).strftime("%H:%M") == "08:30"
    with pytest.raises(ValueError, match="HH:MM"):
        parse_start("half past eight", tz, default)


SHANGHAI = ZoneInfo("Asia/Shanghai")


def _local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("now", "start"),
    [
        ("2026-12-06 10:00", "2026-12-07 09:01"),  # Sunday: the bank branch is closed, so Monday
        ("2026-12-08 15:30", "2026-12-08 09:01"),  # a weekday: today's opening, though passed
        ("2026-12-05 08:00", "2026-12-05 10:01"),  # Saturday: the telecom hall opens last, 10:00
    ],
)
def test_the_demo_simulates_a_time_when_every_hall_is_open(now: str, start: str) -> None:
    configs = [load_site_config(t) for t in DEMO_HALLS]
    began = all_open_start(configs, _local(now))
    assert began.astimezone(SHANGHAI) == _local(start)
    for cfg in configs:  # each hall is open then, for a while
        open_hours = opening_intervals(cfg.timezone, config_periods(cfg), began, began + timedelta(hours=1))
        assert open_hours == [(began, began + timedelta(hours=1))], cfg.site


def test_the_demo_says_which_day_it_simulates_and_why() -> None:
    sunday = date(2026, 12, 6)
    en, zh = day_lines(_local("2026-12-07 09:01"), SHANGHAI, sunday)
    assert en == (
        "Simulated day: Monday 2026-12-07 from 09:01 (Asia/Shanghai): every demo hall opens that day "
        "(today, Sunday, not all of them do)."
    )
    assert (
        zh == "模拟日期：2026-12-07 星期一 09:01（Asia/Shanghai）起，"
        "当天所有演示营业厅均营业（今天星期日并非全部营业）。"
    )
    en, zh = day_lines(_local("2026-12-07 09:01"), SHANGHAI, date(2026, 12, 7))
    assert en.endswith("every demo hall opens that day.")
    assert zh.endswith("均营业。")


def test_halls_never_open_together_are_refused() -> None:
    telecom, bank = (load_site_config(t) for t in DEMO_HALLS[:2])
    sundays = bank.model_copy(
        update={"opening_hours": [OpeningPeriod(days=[Weekday("sun")], open=time(9), close=time(17))]}
    )
    with pytest.raises(ValueError, match="never open at the same time"):
        all_open_start([bank, sundays], _local("2026-12-06 10:00"))
    assert all_open_start([telecom, sundays], _local("2026-12-07 10:00")) == _local("2026-12-13 10:01")


def test_run_dir_is_cleared_only_when_it_is_a_demo_directory(tmp_path: Path) -> None:
    foreign = tmp_path / "home"
    (foreign / "logs").mkdir(parents=True)
    with pytest.raises(ValueError, match="not empty"):
        claim_run_dir(foreign)
    assert (foreign / "logs").is_dir()  # untouched

    run = tmp_path / "run"
    claim_run_dir(run)
    assert (run / MARKER).exists()
    (run / "logs").mkdir()
    (run / "server.sqlite3").write_text("old")
    (run / "tokens").mkdir()
    (run / "tokens" / "admin.token").write_text("kept")
    claim_run_dir(run)
    assert not (run / "logs").exists()
    assert not (run / "server.sqlite3").exists()
    assert (run / "tokens" / "admin.token").read_text() == "kept"
