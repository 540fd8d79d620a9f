"""Simulator throughput: simulated seconds per CPU second, in-process (no MQTT).

Run ``python -m edge.simulate.bench [MINUTES]``; prints one line per example hall.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

from edge.simulate.hall import HallSimulator
from edge.simulate.scenario import SCENARIOS
from lobbywatch.clock import FixedClock
from lobbywatch.config.site import load_site_config

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"


def bench(config: Path, minutes: float, tick_s: float = 1.0) -> str:
    """Run the busy-morning scenario for ``minutes`` simulated minutes; describe the cost."""
    site = load_site_config(config)
    clock = FixedClock.at("2026-11-23T01:00:00Z")
    sim = HallSimulator(site, clock, random.Random(1), SCENARIOS["busy-morning"], tick_s=tick_s)
    messages = len(sim.start())
    steps = round(minutes * 60 / tick_s)
    cpu0 = time.process_time()
    for _ in range(steps):
        clock.advance(tick_s)
        messages += len(sim.step())
    cpu = max(time.process_time() - cpu0, 1e-9)
    simulated = steps * tick_s
    return (
        f"{site.site}: {simulated:.0f} simulated s, {len(site.cameras)} camera(s), tick {tick_s:g} s, "
        f"{messages} messages, CPU {cpu:.1f} s -> {simulated / cpu:.0f}x real time per core, "
        f"{messages / cpu:.0f} messages per CPU second"
    )


def main() -> None:
    minutes = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    for name in ("telecom-hall.yaml", "bank-branch.yaml"):
        print(bench(EXAMPLES / name, minutes))


if __name__ == "__main__":
    main()
