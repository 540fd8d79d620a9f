"""Acceptance: with a known scenario, the pipeline's measured waits match the true waits.

Tolerance (also in docs/simulator.md), with Δ the simulated frame period (tick):

* every true wait / service longer than the entry debounce, ``(entry_frames + 1)·Δ``, is
  matched by exactly one WaitRecord, and no WaitRecord is left without a true stay;
* per stay, ``|measured - true| <= 2Δ + 1 s``; mean absolute error ``<= 1.5Δ``;
  bias between ``-1.5Δ`` and ``0`` (the pipeline ends a dwell at the last frame it saw
  the person inside, one frame before the true departure).
"""

from __future__ import annotations

from edge.simulate.scenario import NORMAL, CameraNoise
from lobbywatch.protocol.codec import decode, encode
from lobbywatch.protocol.messages import WaitRecord
from lobbywatch.protocol.topics import topic_for
from tests.edge.simulate.helpers_simulate import BANK, hall, run

TICK = 1.0
# A busier than usual peak hour with a noisy tracker: jitter 3 px, 5% one-frame dropouts.
KNOWN = NORMAL.model_copy(
    update={
        "name": "accuracy-check",
        "peak_utilisation": 1.0,
        "camera": CameraNoise(jitter_px=3.0, dropout_prob=0.05),
    }
)


def test_measured_waits_are_within_tolerance_of_the_true_waits() -> None:
    site = hall(BANK)
    sim, out = run(site, KNOWN, 45, seed=11, tick_s=TICK, start="2026-11-23T02:00:00Z", devices=False)
    report = sim.report()
    waits, services = report.measured_waits, report.measured_services
    # enough of both to mean something
    assert waits.count >= 15, report.text()
    assert services.count >= 15, report.text()
    assert report.unmatched_records == 0, report.text()
    assert report.unmatched_truth == 0, report.text()
    for stats in (waits, services):
        assert stats.max_abs_s is not None
        assert stats.max_abs_s <= 2 * TICK + 1.0, report.text()
        assert stats.mae_s is not None
        assert stats.mae_s <= 1.5 * TICK, report.text()
        assert stats.bias_s is not None
        assert -1.5 * TICK <= stats.bias_s <= 0.0, report.text()
    # expected waits are compared too (a model estimate: reported, not bounded here)
    assert report.expected_waits.count >= waits.count
    # every message is valid protocol v1 on its own topic
    for m in out:
        decode(encode(m), topic=topic_for(m))
    assert sum(isinstance(m, WaitRecord) for m in out) == waits.count + services.count
