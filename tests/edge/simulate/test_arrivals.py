"""Acceptance (issue #17): the arrivals the pipeline counts are the people who came in.

Over the usual day's busiest hours of both example halls -- one camera seeing every zone (the
bank), and an entrance camera that loses people to a counters camera and sees them again when
they leave (the telecom hall) -- the entrance zones' ``arrivals_total`` is within 5 % of the
simulator's true arrivals, while ``entered_total`` (every entry, leaving ones too) is about
twice that. Whole simulated weeks: ``bench/arrival_count.py`` (docs/benchmarks.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.simulate.scenario import NORMAL
from tests.edge.simulate.helpers_simulate import BANK, TELECOM, hall, run


@pytest.mark.parametrize("config", [BANK, TELECOM], ids=["bank", "telecom"])
def test_counted_arrivals_are_within_5_percent_of_the_true_arrivals(config: Path) -> None:
    site = hall(config)
    sim, _out = run(site, NORMAL, 150, seed=5, tick_s=2.0, start="2026-11-23T01:30:00Z", devices=False)
    report = sim.report()
    assert report.arrivals >= 60, report.text()
    assert abs(report.counted_arrivals - report.arrivals) <= 0.05 * report.arrivals, report.text()
    # what was counted before: entries, leaving ones too
    assert report.entrance_entries >= 1.5 * report.arrivals, report.text()
