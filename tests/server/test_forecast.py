"""Hour-of-week profile, forecast, expected peak and quiet-hour advice; per-minute rollups."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from lobbywatch.clock import FixedClock
from lobbywatch.protocol.enums import ZoneKind
from lobbywatch.protocol.messages import ZoneState

from .conftest import Server

# Arrivals per local hour 09..17 on two past Mondays; occupancy is half the arrivals.
WEEK1 = [4, 10, 20, 16, 8, 6, 12, 24, 10]
WEEK2 = [6, 12, 22, 18, 10, 4, 14, 26, 8]
MEAN = [5, 11, 21, 17, 9, 5, 13, 25, 9]


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock.at("2026-11-09T00:00:00Z")


def sample(server: Server, total: int, occupancy: float) -> ZoneState:
    msg: ZoneState = server.make(
        ZoneState,
        "cam-entrance",
        zone="entrance",
        kind=ZoneKind.ENTRANCE,
        occupancy=occupancy,
        count=int(occupancy),
        entered_total=total,
        exited_total=0,
    )
    return msg


def two_mondays(server: Server) -> int:
    """Arrivals WEEK1 and WEEK2 in the open hours of two past Mondays; the entrance total."""
    total = 0
    for monday, arrivals in ((datetime(2026, 11, 9), WEEK1), (datetime(2026, 11, 16), WEEK2)):
        for i, n in enumerate(arrivals):
            hour_utc = monday.replace(tzinfo=server.clock.now().tzinfo) + timedelta(
                hours=1 + i
            )  # 09:00 local
            server.clock.set(hour_utc + timedelta(seconds=30))
            first = sample(server, total, n / 2)
            total += n
            server.clock.set(hour_utc + timedelta(minutes=59, seconds=30))
            assert server.send([first, sample(server, total, n / 2)]).json()["accepted"] == 2
    return total


def test_profile_forecast_peak_and_quiet_hours(server: Server) -> None:
    two_mondays(server)
    server.clock.set(datetime.fromisoformat("2026-11-23T01:30:00+00:00"))  # Monday 09:30 local

    profile = server.get(f"/api/v1/sites/{server.site}/profile").json()
    assert [(p["hour_of_week"], p["arrivals"], p["samples"]) for p in profile] == [
        (9 + i, float(m), 2) for i, m in enumerate(MEAN)
    ]
    assert [p["occupancy"] for p in profile] == [m / 2 for m in MEAN]

    fc = server.get(f"/api/v1/sites/{server.site}/forecast", "display", hours=10).json()
    assert [h["arrivals"] for h in fc["hours"]] == [float(m) for m in MEAN] + [None]
    assert [h["open"] for h in fc["hours"]] == [True] * 9 + [False]
    assert fc["hours"][0]["local_start"] == "mon 09:00"
    assert fc["peak"]["start"].startswith("2026-11-23T08:00")
    assert fc["peak"]["arrivals"] == 25.0
    [monday] = fc["quiet"]
    assert monday["weekday"] == 0
    assert monday["hours"] == ["09:00-10:00", "14:00-15:00"]
    assert monday["en"] == "Quietest times on Monday: 09:00-10:00, 14:00-15:00."
    assert monday["zh-CN"] == "周一较空闲的时段：09:00-10:00、14:00-15:00。"


def test_the_unfinished_hour_is_no_sample(server: Server) -> None:
    """At 10:05 on the third Monday, its 10:00 hour has 5 minutes of arrivals: not a sample
    (it once pulled the 10:00 forecast down and ended a peak alert as the peak began)."""
    total = two_mondays(server)
    server.clock.set(datetime.fromisoformat("2026-11-23T02:00:30+00:00"))  # 10:00:30 local
    first = sample(server, total, 1.0)
    server.clock.set(datetime.fromisoformat("2026-11-23T02:04:30+00:00"))
    assert server.send([first, sample(server, total + 1, 1.0)]).json()["accepted"] == 2
    server.clock.set(datetime.fromisoformat("2026-11-23T02:05:00+00:00"))
    profile = {p["hour_of_week"]: p for p in server.get(f"/api/v1/sites/{server.site}/profile").json()}
    assert (profile[10]["arrivals"], profile[10]["samples"]) == (float(MEAN[1]), 2)
    fc = server.get(f"/api/v1/sites/{server.site}/forecast", "display", hours=2).json()
    assert fc["hours"][0]["arrivals"] == float(MEAN[1])


def test_minute_rollups(server: Server) -> None:
    msgs = []
    for occupancy, queue, wait in ((2.0, 2, 60.0), (4.0, 4, 180.0)):
        msgs.append(
            server.make(
                ZoneState,
                "cam-counters",
                zone="queue-main",
                kind=ZoneKind.QUEUE,
                occupancy=occupancy,
                count=int(occupancy),
                queue_length=queue,
                expected_wait_s=wait,
                entered_total=0,
                exited_total=0,
            )
        )
        server.clock.advance(10)
    server.send(msgs)
    [row] = server.get(
        f"/api/v1/sites/{server.site}/rollups",
        "manager",
        start="2026-11-09T00:00:00Z",
        end="2026-11-09T00:01:00Z",
    ).json()
    assert (row["zone"], row["occupancy_avg"], row["occupancy_max"], row["queue_avg"], row["queue_max"]) == (
        "queue-main",
        3.0,
        4.0,
        3.0,
        4,
    )
    assert (row["expected_wait_avg_s"], row["expected_wait_max_s"]) == (120.0, 180.0)
