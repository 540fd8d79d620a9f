"""Every panel, variable and annotation query of every dashboard, run on a real influxd.

Queries are taken from the generated dashboards, Grafana's macros and template variables
are substituted as Grafana does (dashboards/macros.py), and each query must return the
series the seeded data implies (tests/dashboards/seed.py). A broken query fails here.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from dashboards.catalog import all_dashboards
from dashboards.hall import hall_wall
from dashboards.regional import regional_overview
from dashboards.vendor import vendor_uptime
from lobbywatch.services import Influxd
from tests.dashboards import helpers_seed as seed
from tests.dashboards.helpers_queries import Ran, dump, run_dashboard

ALL = {"zone": ".*", "vendor": ".*"}


@pytest.fixture
def halls(influxd: Influxd, influx_db: str, site_id: str) -> seed.Halls:
    halls = seed.Halls(a=site_id, b=f"{site_id}b")
    assert seed.write(influxd.url, influx_db, halls) > 500
    return halls


def _non_empty(ran: dict[str, list[Ran]]) -> None:
    for name, results in ran.items():
        for r in results:
            assert r.series, f"{r.where}: no series\n  {r.query}\n{dump(ran)}"
            assert any(row[1:] != [None] * (len(row) - 1) for s in r.series for row in s.values), (
                f"{r.where}: only nulls\n  {r.query}"
            )
        assert results, name


def _title(ran: dict[str, list[Ran]], english: str) -> list[Ran]:
    hits = [v for k, v in ran.items() if k.endswith(english)]
    assert len(hits) == 1, f"{english!r} matches {len(hits)} panels: {list(ran)}"
    return hits[0]


def _single(ran: dict[str, list[Ran]], english: str) -> Any:
    (result,) = _title(ran, english)
    (series,) = result.series
    return series.last()


def test_every_dashboard_has_queries_in_influxql() -> None:
    for d in all_dashboards():
        model = d.to_json()
        if model["templating"]["list"][0]["query"] == "prometheus":
            continue  # the operations dashboard: tests/dashboards/test_operations.py
        for panel in model["panels"]:
            for target in panel["targets"]:
                assert target["rawQuery"] is True
                assert target["datasource"] == {"type": "influxdb", "uid": "${datasource}"}
                query = target["query"]
                assert "$timeFilter" in query or "${__from}" in query, (panel["title"], query)


def test_hall_wall_queries(influxd: Influxd, influx_db: str, halls: seed.Halls) -> None:
    ran = run_dashboard(influxd, influx_db, hall_wall().to_json(), {"site": [halls.a]}, ALL)
    _non_empty(ran)
    assert _single(ran, "Expected wait") == seed.SITE_EXPECTED_WAIT
    assert _single(ran, "Longest wait now") == max(seed.LAST_LONGEST.values())
    assert _single(ran, "Kiosks working") == seed.KIOSKS_WORKING
    assert _single(ran, "People in hall") == sum(seed.LAST_OCCUPANCY.values())
    assert _single(ran, "Arrivals today") == seed.ARRIVALS_TODAY_A
    (occupancy,) = _title(ran, "Occupancy per zone")
    assert occupancy.by_tag("zone") == seed.LAST_OCCUPANCY
    (queues,) = _title(ran, "Queue length")
    assert queues.by_tag("zone") == seed.LAST_QUEUE
    (devices,) = _title(ran, "Devices")
    assert devices.by_tag("device") == seed.DEVICE_STATE_NOW
    hall_line, zone_lines = _title(ran, "10-minute line")
    assert max(v for v in hall_line.series[0].column("max") if v is not None) == seed.SITE_EXPECTED_WAIT
    assert {
        z: max(v for v in s.column("max") if v is not None)
        for z, s in zip([s.tags["zone"] for s in zone_lines.series], zone_lines.series, strict=True)
    } == seed.LAST_EXPECTED
    usual = _title(ran, "Usual by now")
    weeks = tuple(r.series[0].values[0][1] for r in usual)
    assert weeks == seed.ARRIVALS_WEEKS_AGO_A
    # the stat panel merges the weeks' rows and shows their mean
    assert sum(weeks) / len(weeks) == seed.ARRIVALS_USUAL_A == 180
    (today,) = _title(ran, "Arrivals today (per 15 min)")
    assert sum(today.series[0].column("sum")) == seed.ARRIVALS_TODAY_A
    (last_week,) = _title(ran, "same weekday last week")
    assert sum(last_week.series[0].column("sum")) == seed.ARRIVALS_LAST_WEEK_A
    # Active alerts: Grafana's groupBy(alert_id, last) + filter(firing|acknowledged) on these rows
    (alerts,) = _title(ran, "Active alerts")
    latest: dict[str, str] = {}
    for row in sorted(alerts.series[0].values, key=lambda r: r[0]):
        record = dict(zip(alerts.series[0].columns, row, strict=True))
        latest[record["alert_id"]] = record["state"]
        assert record["title_zh"]
        assert record["title_en"]
    active = {k: v for k, v in latest.items() if v in ("firing", "acknowledged")}
    assert active == seed.ACTIVE_ALERTS
    (annotations,) = ran["annotation:告警 Alerts"]
    assert len(annotations.series[0].values) == 3  # a1, a2, a3 fired
    (zones,) = ran["var:zone"]
    assert sorted(v[1] for v in zones.series[0].values) == sorted(seed.ZONES)
    (sites,) = ran["var:site"]
    assert {v[1] for v in sites.series[0].values} == {halls.a, halls.b}


def test_hall_wall_with_selected_zones(influxd: Influxd, influx_db: str, halls: seed.Halls) -> None:
    variables = {"site": [halls.a], "zone": ["queue-a", "waiting"]}
    ran = run_dashboard(influxd, influx_db, hall_wall().to_json(), variables)
    _non_empty(ran)
    (occupancy,) = _title(ran, "Occupancy per zone")
    assert occupancy.by_tag("zone") == {"queue-a": 4.0, "waiting": 2.0}
    assert _single(ran, "Longest wait now") == 700.0


def test_regional_overview_queries(influxd: Influxd, influx_db: str, halls: seed.Halls) -> None:
    ran = run_dashboard(influxd, influx_db, regional_overview().to_json(), {"site": [halls.a, halls.b]})
    _non_empty(ran)
    (table,) = _title(ran, "Halls side by side")
    rows = {s.tags["site"]: dict(zip(s.columns, s.values[0], strict=True)) for s in table.series}
    assert rows[halls.a]["expected_wait_s"] == seed.SITE_EXPECTED_WAIT
    assert rows[halls.a]["kiosks_working"] == seed.KIOSKS_WORKING
    assert rows[halls.b]["kiosks_working"] == 2
    (share,) = _title(ran, "Served within 10 min")
    assert share.by_tag("site") == {halls.a: seed.WITHIN_A_PCT, halls.b: seed.WITHIN_B_PCT}
    (peaks,) = _title(ran, "Peak hours (arrivals per hour)")
    per_site = {s.tags["site"]: sum(s.column("sum")) for s in peaks.series}
    assert per_site == {halls.a: seed.ARRIVALS_TODAY_A, halls.b: seed.ARRIVALS_TODAY_B}
    (faults,) = _title(ran, "Open faults by vendor")
    assert faults.by_tag("vendor") == {"huaxin-maint": 1, "zhongtian-svc": 0}


def test_regional_overview_all_halls(influxd: Influxd, influx_db: str, halls: seed.Halls) -> None:
    ran = run_dashboard(influxd, influx_db, regional_overview().to_json(), {}, {"site": ".*"})
    (share,) = _title(ran, "Served within 10 min")
    assert set(share.by_tag("site")) == {halls.a, halls.b}


def test_vendor_uptime_queries(influxd: Influxd, influx_db: str, halls: seed.Halls) -> None:
    ran = run_dashboard(influxd, influx_db, vendor_uptime().to_json(), {}, {"site": ".*", "vendor": ".*"})
    _non_empty(ran)
    availability, fault_s, raised, state = _title(ran, "Per device")
    avail = availability.by_tag("device")
    minutes = 20 * 24 * 60
    assert avail["kiosk-1"] == pytest.approx(100 * (1 - 120 / minutes), abs=0.01)
    assert avail["kiosk-9"] == 100
    assert fault_s.by_tag("device")["kiosk-1"] == seed.KIOSK1_FAULT_S
    assert fault_s.by_tag("device")["kiosk-2"] == pytest.approx(7200, abs=120)
    assert raised.by_tag("device") == {"kiosk-1": 1, "kiosk-2": 1}
    assert {s.tags["device"]: s.values[0][1] for s in state.series} == {
        **seed.DEVICE_STATE_NOW,
        "kiosk-9": 0,
    }
    (by_vendor,) = _title(ran, "Availability by vendor")
    assert {s.tags["vendor"] for s in by_vendor.series} == {"huaxin-maint", "zhongtian-svc"}
    assert _single(ran, "Open faults") == 1
    assert _single(ran, "Faults raised") == 2
    (daily,) = _title(ran, "Availability per day")
    kiosk1 = next(s for s in daily.series if s.tags["device"] == "kiosk-1")
    assert min(v for v in kiosk1.column("mean") if v is not None) == pytest.approx(100 * (1 - 120 / 1440))
    (vendors,) = ran["var:vendor"]
    assert [v[1] for v in vendors.series[0].values] == ["huaxin-maint", "zhongtian-svc"]


def test_vendor_uptime_one_vendor(influxd: Influxd, influx_db: str, halls: seed.Halls) -> None:
    variables = {"site": [halls.a], "vendor": ["zhongtian-svc"]}
    ran = run_dashboard(influxd, influx_db, vendor_uptime().to_json(), variables)
    availability, *_ = _title(ran, "Per device")
    assert set(availability.by_tag("device")) == {"kiosk-3", "term-c1"}
    assert _single(ran, "Open faults") == 0


def test_a_broken_query_fails(influxd: Influxd, influx_db: str, halls: seed.Halls) -> None:
    model = copy.deepcopy(hall_wall().to_json())
    model["panels"][0]["targets"][0]["query"] = 'SELECT last("expected_wait_s" FROM "site" WHERE $timeFilter'
    with pytest.raises(AssertionError, match=r"rejected|error"):
        run_dashboard(influxd, influx_db, model, {"site": [halls.a]}, ALL)
    model = copy.deepcopy(hall_wall().to_json())
    model["panels"][0]["targets"][0]["query"] = 'SELECT last("expected_wait") FROM "site" WHERE $timeFilter'
    ran = run_dashboard(influxd, influx_db, model, {"site": [halls.a]}, ALL)
    with pytest.raises(AssertionError, match="no series"):
        _non_empty(ran)
