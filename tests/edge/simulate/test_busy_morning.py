"""The busy-morning scenario delivers what the demo needs within its first two hours."""

from __future__ import annotations

import pytest

from edge.simulate.hall import HallSimulator
from edge.simulate.scenario import SCENARIOS
from lobbywatch.protocol.enums import CounterStatus, DeviceEventKind, WaitKind
from lobbywatch.protocol.messages import (
    CameraStatus,
    CounterState,
    DeviceEvent,
    Envelope,
    WaitRecord,
    ZoneState,
)
from tests.edge.simulate.helpers_simulate import TELECOM, hall, run


@pytest.fixture(scope="module")
def busy() -> tuple[HallSimulator, list[Envelope]]:
    # a 2 s frame period keeps two simulated hours cheap
    return run(hall(TELECOM), SCENARIOS["busy-morning"], 90, seed=4, tick_s=2.0)


def test_a_surge_of_arrivals(busy: tuple[HallSimulator, list[Envelope]]) -> None:
    sim, _ = busy
    threshold = sim.site.thresholds.surge_arrivals_per_10min
    times = sim.world.arrival_times
    most = max(sum(1 for u in times if t <= u < t + 600) for t in times)
    assert most >= threshold
    # and the entrance camera counted them
    entrance = [m for m in busy[1] if isinstance(m, ZoneState) and m.zone == "entrance"]
    assert entrance[-1].entered_total >= len(times) * 0.9


def test_a_wait_over_ten_minutes_is_seen(busy: tuple[HallSimulator, list[Envelope]]) -> None:
    sim, out = busy
    report = sim.report()
    assert report.true_wait_max_s is not None
    assert report.true_wait_max_s > 600
    waits = [m for m in out if isinstance(m, WaitRecord) and m.kind == WaitKind.WAIT]
    assert max(m.duration_s for m in waits) > 600
    assert any(m.waits_over_limit > 0 for m in out if isinstance(m, ZoneState))
    assert report.measured_waits.max_abs_s is not None
    assert report.measured_waits.max_abs_s <= 5.0


def test_crowding_over_capacity(busy: tuple[HallSimulator, list[Envelope]]) -> None:
    sim, out = busy
    capacity = {z.id: z.capacity for z in sim.site.zones}
    crowded = {m.zone for m in out if isinstance(m, ZoneState) and m.occupancy > (capacity[m.zone] or 10_000)}
    assert crowded
    hold = sim.site.thresholds.crowding_hold_s
    assert any(z.seconds_over_capacity > hold for z in sim.report().zones)


def test_counters_leave_at_a_busy_moment(busy: tuple[HallSimulator, list[Envelope]]) -> None:
    sim, out = busy
    states = [m for m in out if isinstance(m, CounterState)]
    assert {m.state for m in states} == set(CounterStatus)
    # the scheduled away/learning happen while the queue is long
    busy_at = [m.ts for m in out if isinstance(m, ZoneState) and m.zone == "queue-main" and m.count >= 5]
    away = [m for m in states if m.state in (CounterStatus.AWAY, CounterStatus.LEARNING)]
    assert any(busy_at[0] <= m.ts <= busy_at[-1] for m in away)
    # counter states come from the terminals of the config, each with its own sequence
    terminals = {d.id for d in sim.site.devices if d.kind == "counter_terminal"}
    assert {m.source for m in states} == terminals


def test_one_stream_per_source_without_gaps(busy: tuple[HallSimulator, list[Envelope]]) -> None:
    _, out = busy
    seqs: dict[str, list[int]] = {}
    for m in out:
        if not m.is_will:
            seqs.setdefault(m.source, []).append(m.seq)
    for source, numbers in seqs.items():
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), source
    assert {m.source for m in out if isinstance(m, CameraStatus)} == {"cam-entrance", "cam-counters"}


def test_kiosks_fail_and_are_repaired_in_the_same_world(busy: tuple[HallSimulator, list[Envelope]]) -> None:
    sim, out = busy
    events = [m for m in out if isinstance(m, DeviceEvent)]
    raised = {m.source for m in events if m.event == DeviceEventKind.FAULT_RAISED}
    cleared = {m.source for m in events if m.event == DeviceEventKind.FAULT_CLEARED}
    kiosks = set(sim.world.kiosks)
    assert raised & cleared & kiosks
    assert sim.fleet is not None
