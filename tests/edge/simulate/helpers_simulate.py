"""Shared bits of the simulator tests: the example halls and a run driven by a fixed clock."""

from __future__ import annotations

import random
from pathlib import Path

from edge.simulate.hall import HallSimulator
from edge.simulate.scenario import Scenario
from edge.simulate.world import HallWorld
from lobbywatch.clock import FixedClock
from lobbywatch.config.site import SiteConfig, load_site_config
from lobbywatch.protocol.messages import Envelope

EXAMPLES = Path(__file__).resolve().parents[3] / "deploy" / "examples"
TELECOM = EXAMPLES / "telecom-hall.yaml"
BANK = EXAMPLES / "bank-branch.yaml"
OPENING = "2026-11-23T01:00:00Z"  # Monday 09:00 in Shanghai, when both example halls open


def hall(path: Path) -> SiteConfig:
    return load_site_config(path)


def run(
    site: SiteConfig,
    scenario: Scenario,
    minutes: float,
    *,
    seed: int = 1,
    tick_s: float = 1.0,
    start: str = OPENING,
    devices: bool | None = None,
) -> tuple[HallSimulator, list[Envelope]]:
    """Run a hall for ``minutes`` simulated minutes, one tick per clock step."""
    clock = FixedClock.at(start)
    sim = HallSimulator(site, clock, random.Random(seed), scenario, tick_s=tick_s, devices=devices)
    out = sim.start()
    for _ in range(round(minutes * 60 / tick_s)):
        clock.advance(tick_s)
        out += sim.step()
    return sim, out


def passing(world: HallWorld, limit_s: float) -> tuple[dict[int, float], set[int]]:
    """Customers whose true wait passed ``limit_s`` by a minute (when they passed it), and those
    whose wait stayed under it (the care-task truth of the simulator tests)."""
    waits = [s for s in world.stays if s.kind == "wait"]
    due = {s.pid: s.start_s + limit_s for s in waits if (s.end_s or world.t) - s.start_s > limit_s + 60}
    never = {s.pid for s in waits if (s.end_s or world.t) - s.start_s < limit_s - 5}
    return due, never
