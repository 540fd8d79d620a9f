"""The virtual hall on its own: arrivals follow the profile, counters and people behave."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from edge.simulate.scenario import NORMAL, SCENARIOS, Gathering, Scenario, load_scenario
from edge.simulate.world import HallWorld, Phase
from lobbywatch.config.loader import ConfigError
from lobbywatch.config.site import SiteConfig
from lobbywatch.protocol.enums import CounterStatus
from tests.edge.simulate.helpers_simulate import OPENING, TELECOM, hall, run


def _day(scenario: Scenario, seed: int) -> tuple[HallWorld, Counter[int]]:
    site = hall(TELECOM)
    world = HallWorld(site, scenario, random.Random(seed), datetime.fromisoformat(OPENING))
    world.t = -3600.0  # from 08:00 local, an hour before opening
    while world.t < 10 * 3600:  # until 19:00 local, an hour after closing
        world.step(2.0)
    by_hour = Counter(world.local(t).hour for t in world.arrival_times)
    return world, by_hour


def test_arrivals_follow_the_hour_of_day_profile() -> None:
    world, by_hour = _day(NORMAL, seed=3)
    # nobody arrives while the hall is closed
    assert set(by_hour) <= set(range(9, 18))
    # the morning peak (10:00) and the afternoon peak (15:00) are clearly busier than
    # the lunch lull (12:00) and the last hour (17:00)
    assert by_hour[10] > 1.5 * by_hour[12]
    assert by_hour[15] > 1.4 * by_hour[17]
    # the absolute rate comes from the counters' capacity: at the profile's peak the queue
    # demand is peak_utilisation of what 4 counters serve (mean job 3.75 min -> 64/h)
    assert 60 <= by_hour[10] <= 120
    # everyone who queued was served or is still being served at closing + 1 h
    assert all(s.end_s is not None for s in world.stays)
    assert not [p for p in world.people.values() if p.phase == Phase.QUEUED]


def test_counters_take_breaks_and_serve_the_longest_waiter_first() -> None:
    site = hall(TELECOM)
    world = HallWorld(site, SCENARIOS["busy-morning"], random.Random(5), datetime.fromisoformat(OPENING))
    states: dict[str, set[CounterStatus]] = {c.cfg.id: set() for c in world.counters}
    while world.t < 90 * 60:
        ev = world.step(1.0)
        for cs in ev.counter_changes:
            states[cs.cfg.id].add(cs.state)
    # scheduled: counter index 1 away at 40 min, index 2 learning at 45 min
    assert CounterStatus.AWAY in states["c2"]
    assert CounterStatus.LEARNING in states["c3"]
    assert all({CounterStatus.SERVING, CounterStatus.STANDBY} <= s for s in states.values())
    # with two counters gone at the surge, someone waits more than 10 minutes
    served = [s for s in world.stays if s.kind == "wait" and s.end_s is not None]
    assert served
    assert max((s.duration_s or 0) for s in served) > 600


def test_scenarios_are_validated_data(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"profile hours must be 0\.\.23"):
        Scenario(name="x", description_en="x", description_zh="x", profile={25: 1.0})
    with pytest.raises(ValueError, match="unknown scenario 'nope'"):
        load_scenario("nope")
    bad = tmp_path / "s.yaml"
    bad.write_text("name: x\ndescription_en: x\ndescription_zh: x\nprofile: {10: 1}\npeak_utilisation: -1\n")
    with pytest.raises(ConfigError, match="peak_utilisation"):
        load_scenario(str(bad))
    good = tmp_path / "g.yaml"
    good.write_text("name: mine\ndescription_en: x\ndescription_zh: 例\nprofile: {10: 1, 11: 0.5}\n")
    assert load_scenario(str(good)).name == "mine"


def test_without_working_kiosks_the_guide_steers_people_to_the_counters() -> None:
    site = hall(TELECOM)
    start = datetime.fromisoformat(OPENING)
    down = HallWorld(site, NORMAL, random.Random(2), start, kiosk_usable=lambda _k: False)
    up = HallWorld(site, NORMAL, random.Random(2), start)
    seen_down: set[Phase] = set()
    seen_up: set[Phase] = set()
    while down.t < 3600:
        down.step(2.0)
        up.step(2.0)
        seen_down |= {p.phase for p in down.people.values()}
        seen_up |= {p.phase for p in up.people.values()}
    assert Phase.KIOSK_USE in seen_up
    assert not seen_down & {Phase.KIOSK_USE, Phase.KIOSK_WAIT}
    # the kiosk share now queues: more waits than with working kiosks
    assert len([s for s in down.stays if s.kind == "wait"]) > len([s for s in up.stays if s.kind == "wait"])


def test_any_hall_shape_works_a_queue_without_counters_and_a_crowd_in_it() -> None:
    square = [[0, 300], [300, 300], [300, 600], [0, 600]]
    other = [[400, 300], [800, 300], [800, 600], [400, 600]]
    site = SiteConfig.model_validate(
        {
            "site": "tiny",
            "name": {"en": "Tiny", "zh-CN": "小厅"},
            "opening_hours": [{"days": ["mon"], "open": "09:00", "close": "12:00"}],
            "zones": [
                {"id": "door", "kind": "entrance"},
                {"id": "line", "kind": "waiting", "capacity": 5},
            ],
            "cameras": [
                {
                    "id": "cam",
                    "source": "x.mp4",
                    "zones": [{"zone": "door", "polygon": other}, {"zone": "line", "polygon": square}],
                }
            ],
        }
    )
    scenario = NORMAL.model_copy(update={"gatherings": [Gathering(at_min=5, duration_min=6)]})
    sim, _ = run(site, scenario, 30, seed=2, tick_s=1.0)
    report = sim.report()
    # nobody serves this line: people give up after a while, the crowd gathers and leaves
    assert report.true_waits > 5
    assert report.unmatched_records == 0
    assert report.unmatched_truth == 0
    assert report.measured_waits.max_abs_s is not None
    assert report.measured_waits.max_abs_s <= 3.0
    assert {z.zone: z.max_occupancy for z in report.zones}["line"] > 5
    assert sim.projectors["cam"].frame_size == (1280, 720)
