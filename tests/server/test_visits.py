"""Visits reach the server: stored once per camera visit; served-within-limit share and wait
percentiles come from them (on SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from lobbywatch.protocol.enums import VisitOutcome
from lobbywatch.protocol.messages import Envelope, VisitRecord
from server.visits import percentile

from .conftest import Server


def _visit(server: Server, visit: str, wait_s: float | None, outcome: VisitOutcome) -> VisitRecord:
    now = server.clock.now()
    fields: dict[str, Any] = {
        "visit": visit,
        "arrived": now - timedelta(minutes=40),
        "left": now,
        "outcome": outcome,
    }
    if wait_s is not None:
        fields |= {"wait_zone": "queue-main", "wait_started": now - timedelta(minutes=39), "wait_s": wait_s}
    if outcome == VisitOutcome.SERVED:
        fields |= {
            "service_zone": "counter-1",
            "service_started": now - timedelta(minutes=5),
            "service_s": 280.0,
        }
    msg: VisitRecord = server.make(VisitRecord, "cam-counters", **fields)
    return msg


def test_visits_are_stored_once_and_summarised(make_server: Callable[..., Server], sql_url: str) -> None:
    server = make_server(sql_url=sql_url)
    visits: list[Envelope | dict[str, Any]] = [
        _visit(server, "v-1", 120.0, VisitOutcome.SERVED),
        _visit(server, "v-2", 540.0, VisitOutcome.SERVED),
        _visit(server, "v-3", 900.0, VisitOutcome.SERVED),
        _visit(server, "v-4", 700.0, VisitOutcome.WALKED_OUT),
        _visit(server, "v-5", None, VisitOutcome.PASSED),
    ]
    r = server.send(visits).json()
    assert r["accepted"] == 5
    assert server.send(visits[:2]).json()["duplicates"] == 2
    now = server.clock.now()
    period = {
        "start": (now - timedelta(hours=1)).isoformat(),
        "end": (now + timedelta(seconds=1)).isoformat(),
    }
    r = server.get(f"/api/v1/sites/{server.site}/visits/summary", role="manager", **period)
    assert r.status_code == 200, r.text
    s = r.json()
    assert [s[k] for k in ("visits", "waited", "served", "walked_out", "served_within_limit")] == [
        5,
        4,
        3,
        1,
        2,
    ]
    assert s["served_within_limit_pct"] == 50.0  # the walk-out was not served in time (10-min limit)
    assert (s["wait_p50_s"], s["wait_p90_s"]) == (540.0, 900.0)
    other = server.get(f"/api/v1/sites/{server.site}/visits/summary", role="manager_other", **period)
    assert other.status_code == 404
    assert (
        server.get(f"/api/v1/sites/{server.site}/visits/summary", role="vendor_a", **period).status_code
        == 403
    )


def test_nearest_rank_percentile() -> None:
    assert percentile([], 90) is None
    assert percentile([5.0, 1.0, 3.0], 50) == 3.0
    assert percentile([float(i) for i in range(1, 11)], 90) == 9.0
