"""The one-command demo, end to end: real Mosquitto, influxd, server, gateways, simulators.

Starts ``lobbywatch demo`` as a subprocess, waits until the wall page shows live numbers
(REST and headless Chromium) and alerts of the four kinds of the scripted busy morning
have fired, checks what the queue tickets, the visits and the care tasks show (never a staff
member), then sends SIGINT and checks that the demo and every child it started exited.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lobbywatch.config import load_site_config
from lobbywatch.services import free_port, wait_until
from server.opening_hours import config_periods, opening_intervals
from tests.conftest import launch_chromium

SPEED = 80.0  # one simulated hour in 45 real seconds
PEAK_KINDS = {"peak_surge", "peak_forecast"}
REQUIRED = {"crowding", "long_wait", "device_fault"}


def _get(url: str, token: str) -> Any:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _open(hall: Path, when: datetime) -> bool:
    """Whether the hall is open in the hour from ``when``."""
    cfg = load_site_config(hall)
    return bool(opening_intervals(cfg.timezone, config_periods(cfg), when, when + timedelta(hours=1)))


class RunningDemo:
    def __init__(self, run_dir: Path, port: int) -> None:
        self.run_dir = run_dir
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.out = (run_dir.parent / "demo-stdout.txt").open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "system",
                "demo",
                "--speed",
                repr(SPEED),
                "--run-dir",
                str(run_dir),
                "--port",
                str(port),
            ],
            stdout=self.out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def output(self) -> str:
        return (self.run_dir.parent / "demo-stdout.txt").read_text(errors="replace")

    def info(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.run_dir / "demo.json").read_text())
        return data

    def pids(self) -> dict[str, int]:
        data: dict[str, int] = json.loads((self.run_dir / "pids.json").read_text())
        return data

    def cleanup(self) -> None:
        """Leave nothing behind even when the test failed half-way."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if (self.run_dir / "pids.json").exists():
            for pid in self.pids().values():
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)
        self.out.close()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[RunningDemo]:
    running = RunningDemo(tmp_path / "run", free_port())
    try:
        yield running
    finally:
        running.cleanup()


@pytest.mark.real
def test_demo_runs_the_busy_morning_and_stops_cleanly(demo: RunningDemo) -> None:
    started = wait_until(
        lambda: demo.proc.poll() is not None or (demo.run_dir / "demo.json").exists(), 120, 0.5
    )
    assert started, demo.output()
    assert demo.proc.poll() is None, demo.output()
    info = demo.info()
    out = demo.output()
    assert info["staff"] in out
    assert all(url in out for url in info["walls"].values())
    manager = info["tokens"]["manager"]
    sites = list(info["walls"])
    assert len(sites) == 3
    assert set(info["guides"]) == set(sites)

    # Live numbers through the REST API, for both halls.
    def live() -> bool:
        try:
            views = [_get(f"{demo.base}/api/v1/sites/{s}/live", manager) for s in sites]
        except (urllib.error.URLError, OSError):
            return False
        return all(v["data"] == "live" and v["occupancy"] > 0 for v in views)

    assert wait_until(live, 60, 1.0), demo.output()

    # The wall page in headless Chromium shows a live people count.
    from playwright.sync_api import sync_playwright

    site = sites[0]
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page()
            page.goto(info["walls"][site])
            page.wait_for_selector('[data-testid="data-pill"][data-state="live"]', timeout=30_000)
            page.wait_for_function(
                "() => /^\\d+$/.test(document.querySelector('#people-value').textContent.trim())",
                timeout=30_000,
            )
        finally:
            browser.close()

    # Alerts of every kind of the scripted morning fire (either hall will do). Read from the
    # halls' alert history too: at the demo's speed an alert can fire and resolve between polls.
    seen: set[str] = set()

    def fired() -> bool:
        assert demo.proc.poll() is None, demo.output()
        try:
            seen.update(a["kind"] for a in _get(f"{demo.base}/api/v1/alerts", manager))
            for s in sites:
                seen.update(a["kind"] for a in _get(f"{demo.base}/api/v1/sites/{s}/alerts/history", manager))
        except (urllib.error.URLError, OSError):
            return False
        return seen >= REQUIRED and bool(PEAK_KINDS & seen)

    assert wait_until(fired, 180, 1.0), f"alert kinds seen: {sorted(seen)}\n{demo.output()}"

    # The simulated day is one on which every hall is open (a Sunday demo simulates the
    # Monday: the bank branch is closed on Sundays), and each tells the wait per business type
    # from its tickets.
    start = datetime.fromisoformat(info["timeline_start"])
    open_now = [s for s in sites if _open(demo.run_dir / "halls" / f"{s}.yaml", start)]
    assert open_now == sites, demo.output()
    assert "Simulated day:" in demo.output()

    def ticketed() -> bool:
        views = [_get(f"{demo.base}/api/v1/sites/{s}/live", manager) for s in open_now]
        return all(v["waits_by_business"] for v in views)

    assert wait_until(ticketed, 30, 1.0), demo.output()
    # Visits: the customers who have left, and their waits.
    summaries = {s: _get(info["visits"][s], manager) for s in open_now}
    assert all(v["visits"] > 0 and v["waited"] > 0 for v in summaries.values()), summaries

    # Staff are not customers: the guide at the desk is never a wait or a care task, and each
    # care task is one customer's (issue #17), with where they stand on the floor plan.
    care = [a for a in _get(f"{demo.base}/api/v1/alerts", manager) if a["kind"] == "long_wait"]
    assert all(a["subject"].startswith("visit:") for a in care), care
    desks: set[tuple[str, str]] = set()
    for s in sites:
        view = _get(f"{demo.base}/api/v1/sites/{s}/live", manager)
        at_desk = [z for z in view["zones"] if z["kind"] == "consultation"]
        assert all(z["longest_wait_s"] is None and z["long_waits"] == [] for z in at_desk), at_desk
        desks |= {(s, z["zone"]) for z in at_desk}
    assert len({s for s, _ in desks}) >= 2  # the halls with staff at their guide desks
    assert not [a for a in care if (a["site"], a["zone"]) in desks], care
    guide = info["tokens"]
    floor_points: list[Any] = []

    def placed() -> bool:
        for s in sites:
            tasks = _get(f"{demo.base}/api/v1/sites/{s}/care", guide[f"guide-{s}"])["tasks"]
            floor_points.extend(t["floor"] for t in tasks if t["floor"] is not None)
        return bool(floor_points)

    assert wait_until(placed, 60, 1.0), demo.output()

    # A child that dies is reported with its log tail; the rest keeps running.
    pids = demo.pids()
    victim = f"gateway-{sites[1]}"
    os.kill(pids[victim], signal.SIGKILL)
    assert wait_until(lambda: f"[{victim}] exited unexpectedly" in demo.output(), 15, 0.2)
    assert demo.proc.poll() is None

    # Ctrl-C stops everything.
    assert {"mosquitto", "influxd", "server"} <= set(pids)
    assert len(pids) >= 9
    began = time.monotonic()
    demo.proc.send_signal(signal.SIGINT)
    assert demo.proc.wait(45) == 0, demo.output()
    assert time.monotonic() - began < 45
    left = {name: pid for name, pid in pids.items() if _alive(pid)}
    assert not left, f"still running after Ctrl-C: {left}"
    assert "Nothing is left running" in demo.output()
