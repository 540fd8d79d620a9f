"""Dwell clocks, wait records, loitering and rate limiting, driven by the injected clock."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from edge.vision.dwell import OccupancySmoother
from edge.vision.pipeline import TrackedBox, ZonePipeline
from lobbywatch.clock import FixedClock
from lobbywatch.config.site import SiteConfig
from lobbywatch.protocol.enums import WaitKind, WaitOutcome
from lobbywatch.protocol.messages import Envelope, WaitRecord, ZoneState
from lobbywatch.protocol.sequence import Stamper

from .conftest import make_site

# Boxes whose bottom-centre anchor lies in each zone of the test camera.
QUEUE = (40.0, 0.0, 60.0, 50.0)
COUNTER = (240.0, 0.0, 260.0, 50.0)
ENTRANCE = (440.0, 0.0, 460.0, 50.0)
NOWHERE = (640.0, 0.0, 660.0, 50.0)


def _pipe(site: SiteConfig, clock: FixedClock, keepalive_s: float = 10.0) -> ZonePipeline:
    stamper = Stamper(site.site, "cam-1", clock=clock)
    p = ZonePipeline(site, "cam-1", stamper, frame_size=(640, 480), keepalive_s=keepalive_s)
    p.start(clock.now())
    return p


def _step(
    p: ZonePipeline,
    clock: FixedClock,
    tracks: Sequence[tuple[int, tuple[float, float, float, float]]],
    dt: float = 1.0,
) -> list[Envelope]:
    clock.advance(dt)
    return p.update([TrackedBox(t, box) for t, box in tracks], clock.now())


def _waits(msgs: list[Envelope]) -> list[WaitRecord]:
    return [m for m in msgs if isinstance(m, WaitRecord)]


def _state(p: ZonePipeline, zone: str) -> ZoneState:
    st = {s.zone: s for s in p.current_states()}[zone]
    return st


def test_start_publishes_zeroed_state_for_every_zone(site: SiteConfig, clock: FixedClock) -> None:
    p = ZonePipeline(site, "cam-1", Stamper(site.site, "cam-1", clock=clock), frame_size=(640, 480))
    msgs = p.start(clock.now())
    assert {m.zone for m in msgs if isinstance(m, ZoneState)} == {"queue-a", "counter-1", "entrance"}
    for m in msgs:
        assert isinstance(m, ZoneState)
        assert (m.count, m.occupancy, m.entered_total, m.exited_total) == (0, 0.0, 0, 0)
        assert m.longest_wait_s is None


def test_exit_stops_the_clock_and_emits_exactly_one_wait(site: SiteConfig, clock: FixedClock) -> None:
    p = _pipe(site, clock)
    records: list[WaitRecord] = []
    for _ in range(60):  # 60 s in the queue (entry debounce 2 frames)
        records += _waits(_step(p, clock, [(1, QUEUE)]))
    assert records == []
    assert _state(p, "queue-a").queue_length == 1
    for _ in range(5):  # exit debounce is 3 frames
        records += _waits(_step(p, clock, [(1, NOWHERE)]))
    assert len(records) == 1
    r = records[0]
    assert (r.zone, r.kind, r.outcome) == ("queue-a", WaitKind.WAIT, WaitOutcome.EXITED)
    # Started at the first frame inside, ended at the last frame inside.
    assert r.duration_s == pytest.approx(59.0)
    for _ in range(20):
        records += _waits(_step(p, clock, [(1, NOWHERE)]))
    assert len(records) == 1
    st = _state(p, "queue-a")
    assert (st.entered_total, st.exited_total, st.queue_length) == (1, 1, 0)


def test_lost_track_is_closed_after_the_timeout(site: SiteConfig, clock: FixedClock) -> None:
    p = _pipe(site, clock)
    records: list[WaitRecord] = []
    for _ in range(30):
        records += _waits(_step(p, clock, [(5, QUEUE)]))
    last_seen = clock.now()
    for _ in range(9):  # unseen for 9 s (< 10 s timeout): still waiting, clock running
        records += _waits(_step(p, clock, []))
    assert records == []
    assert _state(p, "queue-a").queue_length == 1
    for _ in range(3):
        records += _waits(_step(p, clock, []))
    assert len(records) == 1
    assert records[0].outcome == WaitOutcome.LOST
    assert records[0].ended == last_seen
    assert _state(p, "queue-a").queue_length == 0


def test_occlusion_shorter_than_the_timeout_keeps_one_dwell(site: SiteConfig, clock: FixedClock) -> None:
    p = _pipe(site, clock)
    records: list[WaitRecord] = []
    for frames in ([(2, QUEUE)],) * 10 + ([],) * 5 + ([(2, QUEUE)],) * 10 + ([(2, NOWHERE)],) * 4:
        records += _waits(_step(p, clock, frames))
    assert len(records) == 1
    assert records[0].duration_s == pytest.approx(24.0)


def test_reentry_opens_a_new_dwell(site: SiteConfig, clock: FixedClock) -> None:
    p = _pipe(site, clock)
    seq = [[(3, QUEUE)]] * 10 + [[(3, NOWHERE)]] * 5 + [[(3, QUEUE)]] * 20 + [[(3, NOWHERE)]] * 5
    records: list[WaitRecord] = []
    for frame in seq:
        records += _waits(_step(p, clock, frame))
    assert [r.outcome for r in records] == [WaitOutcome.EXITED, WaitOutcome.EXITED]
    assert [round(r.duration_s) for r in records] == [9, 19]
    assert records[1].started > records[0].ended
    assert _state(p, "queue-a").entered_total == 2


def test_service_time_feeds_the_expected_wait(site: SiteConfig, clock: FixedClock) -> None:
    p = _pipe(site, clock)
    # Cold start: 2 people in line, 1 counter configured, default 3 min per service.
    for _ in range(3):
        _step(p, clock, [(1, QUEUE), (2, QUEUE)])
    assert _state(p, "queue-a").expected_wait_s == pytest.approx(2 * 180)
    # Someone is served for 61 s at the counter, then leaves.
    records: list[WaitRecord] = []
    for _ in range(62):
        records += _waits(_step(p, clock, [(1, QUEUE), (2, QUEUE), (9, COUNTER)]))
    for _ in range(4):
        records += _waits(_step(p, clock, [(1, QUEUE), (2, QUEUE), (9, NOWHERE)]))
    service = [r for r in records if r.kind == WaitKind.SERVICE]
    assert len(service) == 1
    assert service[0].duration_s == pytest.approx(61.0)
    clock.advance(20)  # past the 10 s keep-alive, so a fresh state is built
    _step(p, clock, [(1, QUEUE), (2, QUEUE)])
    assert _state(p, "queue-a").expected_wait_s == pytest.approx(2 * 61.0)


def test_longest_wait_where_and_over_limit(site: SiteConfig, clock: FixedClock) -> None:
    p = _pipe(site, clock)
    for _ in range(150):  # max_wait_min is 2 in the test hall
        _step(p, clock, [(1, QUEUE)])
    for _ in range(15):
        _step(p, clock, [(1, QUEUE), (2, (70.0, 0.0, 90.0, 80.0))])
    st = _state(p, "queue-a")
    assert st.longest_wait_s is not None
    assert st.longest_wait_s >= 150
    assert st.longest_wait_at == pytest.approx((50 / 640, 50 / 480))
    assert st.waits_over_limit == 1


def test_loitering_only_without_joining_a_queue(site: SiteConfig, clock: FixedClock) -> None:
    p = _pipe(site, clock)
    # Track 1 wanders in the entrance for 70 s (loiter_min is 1): loitering.
    # Track 2 queued first, then stands in the entrance just as long: not loitering.
    for _ in range(5):
        _step(p, clock, [(2, QUEUE)])
    for _ in range(72):
        _step(p, clock, [(1, ENTRANCE), (2, ENTRANCE)])
    clock.advance(15)
    _step(p, clock, [(1, ENTRANCE), (2, ENTRANCE)])
    assert _state(p, "entrance").loitering == 1


def test_zone_state_rate_limit_and_keepalive(site: SiteConfig, clock: FixedClock) -> None:
    p = _pipe(site, clock, keepalive_s=10.0)
    states: list[ZoneState] = []
    # Ten frames within one second, count changing on each: at most one state per second.
    for i in range(10):
        msgs = _step(p, clock, [(t, QUEUE) for t in range(i % 3)], dt=0.1)
        states += [m for m in msgs if isinstance(m, ZoneState) and m.zone == "queue-a"]
    assert len(states) <= 1
    # Nothing changes for 30 s at one frame per second: only keep-alives, every 10 s.
    for _ in range(5):
        _step(p, clock, [], dt=1.0)
    states = []
    for _ in range(30):
        msgs = _step(p, clock, [], dt=1.0)
        states += [m for m in msgs if isinstance(m, ZoneState) and m.zone == "queue-a"]
    assert 2 <= len(states) <= 4


def test_roi_excludes_people_outside(clock: FixedClock) -> None:
    site = make_site(roi=[[0, 0], [150, 0], [150, 200], [0, 200]])
    p = _pipe(site, clock)
    for _ in range(3):
        _step(p, clock, [(1, QUEUE), (2, ENTRANCE)])
    assert _state(p, "queue-a").count == 1
    assert _state(p, "entrance").count == 0


def test_stream_lost_zeroes_and_closes(site: SiteConfig, clock: FixedClock) -> None:
    p = _pipe(site, clock)
    for _ in range(10):
        _step(p, clock, [(1, QUEUE), (2, COUNTER)])
    msgs = p.stream_lost(clock.now())
    assert {(r.zone, r.outcome) for r in _waits(msgs)} == {
        ("queue-a", WaitOutcome.LOST),
        ("counter-1", WaitOutcome.LOST),
    }
    for s in (m for m in msgs if isinstance(m, ZoneState)):
        assert s.count == 0
        assert s.occupancy == 0
        assert s.queue_length in (None, 0)
        assert s.entered_total == s.exited_total


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ([3, 3, 0, 3, 3], 3.0),  # one-frame drop-out ignored
        ([3, 3, 9, 3], 3.0),  # one-frame spike ignored
        ([3, 3, 5, 5], 5.0),  # a real change shows after two frames
    ],
)
def test_occupancy_smoothing(counts: list[int], expected: float) -> None:
    s = OccupancySmoother(3)
    values = [s.update(c) for c in counts]
    assert values[-1] == expected
    assert min(values[1:]) >= min(counts[:2])


def _entrance_totals(msgs: list[Envelope]) -> tuple[int, int | None]:
    last = [m for m in msgs if isinstance(m, ZoneState) and m.zone == "entrance"][-1]
    return last.entered_total, last.arrivals_total


def test_a_visit_in_and_out_through_the_entrance_is_one_arrival_and_two_entries(
    site: SiteConfig, clock: FixedClock
) -> None:
    p = _pipe(site, clock)
    out: list[Envelope] = []
    for box in [ENTRANCE] * 4 + [QUEUE] * 5 + [COUNTER] * 5 + [ENTRANCE] * 4 + [NOWHERE] * 4:
        out += _step(p, clock, [(7, box)])
    out += _step(p, clock, [], dt=15.0)  # lost for good
    assert _entrance_totals(out) == (2, 1)
    # only entrance zones carry arrivals
    assert all(m.arrivals_total is None for m in out if isinstance(m, ZoneState) and m.zone != "entrance")


def test_a_track_first_seen_inside_the_hall_is_no_arrival_at_the_entrance(
    site: SiteConfig, clock: FixedClock
) -> None:
    # someone already in the hall when the camera started, or walking in from a part of the
    # hall this camera does not see, then leaving through the entrance
    p = _pipe(site, clock)
    out: list[Envelope] = []
    for box in [NOWHERE] + [ENTRANCE] * 4 + [NOWHERE] * 4:
        out += _step(p, clock, [(3, box)])
    for box in [COUNTER] * 3 + [ENTRANCE] * 4:
        out += _step(p, clock, [(4, box)])
    assert _entrance_totals(out) == (2, 0)
    # a new track that starts in the entrance is an arrival, even if it never goes further
    for box in [ENTRANCE] * 3:
        out += _step(p, clock, [(5, box)])
    out += _step(p, clock, [], dt=11.0)
    assert _entrance_totals(out) == (3, 1)
