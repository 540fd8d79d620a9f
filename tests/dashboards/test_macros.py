"""Grafana macro substitution used to run the dashboard queries (dashboards/macros.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboards.macros import MacroError, QueryContext, interval_text, panel_range, render

START = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
END = START + timedelta(hours=1)


def test_time_filter_interval_and_range_bounds() -> None:
    ctx = QueryContext(START, END, interval_ms=15_000)
    q = render(
        "SELECT 1 WHERE $timeFilter GROUP BY time($__interval) -- $__interval_ms ${__from} ${__to}", ctx
    )
    start_ms, end_ms = int(START.timestamp() * 1000), int(END.timestamp() * 1000)
    assert q == (
        f"SELECT 1 WHERE time >= {start_ms}ms and time <= {end_ms}ms GROUP BY time(15s) "
        f"-- 15000 {start_ms} {end_ms}"
    )


def test_variables_as_grafana_interpolates_them() -> None:
    ctx = QueryContext(
        START,
        END,
        variables={"site": ["sh-pudong-01"], "zone": ["queue-a", "wait.b"]},
        all_values={"vendor": ".*"},
        unescaped=frozenset({"site"}),
    )
    q = render('"site" =~ /^$site$/ AND "zone" =~ /^${zone}$/ AND "vendor" =~ /^$vendor$/', ctx)
    assert q == r'"site" =~ /^sh-pudong-01$/ AND "zone" =~ /^(queue\-a|wait\.b)$/ AND "vendor" =~ /^.*$/'


def test_unknown_variable_is_an_error() -> None:
    with pytest.raises(MacroError, match=r"\$nope"):
        render("SELECT $nope", QueryContext(START, END))


def test_interval_text() -> None:
    assert [interval_text(ms) for ms in (500, 10_000, 120_000, 3_600_000, 86_400_000)] == [
        "500ms",
        "10s",
        "2m",
        "1h",
        "1d",
    ]


def test_panel_range() -> None:
    now = END
    assert panel_range(now, "now-6h") == (now - timedelta(hours=6), now)
    assert panel_range(now, "now-6h", time_from="24h") == (now - timedelta(days=1), now)
    assert panel_range(now, "now-6h", time_from="now/d", time_shift="7d", day_start=START) == (
        START - timedelta(days=7),
        END - timedelta(days=7),
    )
    with pytest.raises(ValueError, match="duration"):
        panel_range(now, "now-6h", time_from="yesterday")
    with pytest.raises(ValueError, match="empty"):
        QueryContext(END, START)
