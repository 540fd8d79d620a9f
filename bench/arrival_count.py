"""Arrivals counted against true arrivals over simulated days (issue #17).

Runs each example hall through the production ``ZonePipeline`` for whole simulated days
(the ``normal`` scenario, from Monday opening) and prints, per hall, the true arrivals, the
entrance zones' ``arrivals_total`` (what the server counts as arrivals) and their
``entered_total`` (what it counted before: every entry, leaving ones too), each ÷ true::

    PYTHONPATH=$PWD .venv/bin/python -m bench.arrival_count [DAYS] [SEED]

Figures: ``docs/benchmarks.md``, "Arrivals counted against the truth".
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

from edge.simulate.bench import EXAMPLES
from edge.simulate.hall import HallSimulator
from edge.simulate.scenario import SCENARIOS
from edge.simulate.truth import TruthReport
from lobbywatch.clock import FixedClock
from lobbywatch.config.site import load_site_config

OPENING = "2026-11-23T01:00:00Z"  # Monday 09:00 in Shanghai, when both example halls open


def run_days(config: Path, days: float, seed: int, tick_s: float = 1.0) -> TruthReport:
    """Simulate ``days`` whole days of one hall; return its truth report."""
    site = load_site_config(config)
    clock = FixedClock.at(OPENING)
    sim = HallSimulator(site, clock, random.Random(seed), SCENARIOS["normal"], tick_s=tick_s, devices=False)
    sim.start()
    for _ in range(round(days * 86400 / tick_s)):
        clock.advance(tick_s)
        sim.step()
    return sim.report()


def main() -> None:
    days = float(sys.argv[1]) if len(sys.argv) > 1 else 7.0
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    for config in (EXAMPLES / "telecom-hall.yaml", EXAMPLES / "bank-branch.yaml"):
        cpu0 = time.process_time()
        r = run_days(config, days, seed)
        true = max(r.arrivals, 1)
        print(
            f"{r.site}: {days:g} days, true arrivals {r.arrivals}, "
            f"arrivals_total {r.counted_arrivals} ({r.counted_arrivals / true:.3f}x), "
            f"entered_total {r.entrance_entries} ({r.entrance_entries / true:.3f}x), "
            f"CPU {time.process_time() - cpu0:.0f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
