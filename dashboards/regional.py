"""Regional overview: halls side by side for regional operations."""

from __future__ import annotations

from dashboards.builder import (
    Dashboard,
    GridPos,
    Panel,
    Target,
    Threshold,
    column_override,
    datasource_variable,
    site_variable,
)
from dashboards.hall import BARS, MULTI_SERIES, WAIT_CHART, line_chart

SITE = '"site" =~ /^$site$/'
SHARE_THRESHOLDS = (Threshold(None, "red"), Threshold(80, "orange"), Threshold(90, "green"))


def regional_overview() -> Dashboard:
    """Halls compared: live state, share served within 10 minutes, peak hours, open faults."""
    panels = [
        Panel(
            title="各厅对比 Halls side by side",
            description="Latest state of each hall.",
            kind="table",
            grid=GridPos(0, 0, 14, 8),
            targets=[
                Target(
                    'SELECT last("occupancy") AS "occupancy", last("expected_wait_s") AS "expected_wait_s", '
                    'last("kiosks_working") AS "kiosks_working", last("counters_serving") AS '
                    f'"counters_serving" FROM "site" WHERE {SITE} AND $timeFilter GROUP BY "site"',
                    result_format="table",
                )
            ],
            transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True}}}],
            overrides=[
                column_override("site", displayName="营业厅 Hall"),
                column_override("occupancy", displayName="厅内人数 People"),
                column_override("expected_wait_s", displayName="预计等候 Expected wait", unit="s"),
                column_override("kiosks_working", displayName="可用自助机 Kiosks working"),
                column_override("counters_serving", displayName="受理中台席 Counters serving"),
            ],
            decimals=0,
            custom={"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False},
            options={"cellHeight": "md", "footer": {"show": False}, "showHeader": True},
        ),
        Panel(
            title="10分钟内办理占比 Served within 10 min",
            description="Share of completed waits that ended within the 10-minute limit, per hall.",
            kind="bargauge",
            grid=GridPos(14, 0, 10, 8),
            targets=[
                Target(
                    f'SELECT mean("within_limit") * 100 FROM "wait" WHERE {SITE} AND "kind" = \'wait\' '
                    'AND $timeFilter GROUP BY "site"',
                    alias="$tag_site",
                )
            ],
            unit="percent",
            decimals=1,
            min=0,
            max=100,
            thresholds=SHARE_THRESHOLDS,
            options=BARS,
        ),
        Panel(
            title="每日达标率 Served within 10 min, per day",
            description="Share of waits within 10 minutes, day by day, per hall.",
            kind="timeseries",
            grid=GridPos(0, 8, 12, 9),
            targets=[
                Target(
                    f'SELECT mean("within_limit") * 100 FROM "wait" WHERE {SITE} AND "kind" = \'wait\' '
                    'AND $timeFilter GROUP BY time(1d), "site" fill(none)',
                    alias="$tag_site",
                )
            ],
            unit="percent",
            min=0,
            max=100,
            color_mode="palette-classic",
            custom=line_chart(),
            options=MULTI_SERIES,
        ),
        Panel(
            title="高峰时段 Peak hours (arrivals per hour)",
            description="Arrivals per hour in each hall: the peaks show when to open all counters.",
            kind="timeseries",
            grid=GridPos(12, 8, 12, 9),
            targets=[
                Target(
                    f'SELECT sum("n") FROM "arrivals" WHERE {SITE} AND $timeFilter '
                    'GROUP BY time(1h), "site" fill(0)',
                    alias="$tag_site",
                )
            ],
            min=0,
            color_mode="palette-classic",
            custom=line_chart(bars=True),
            options=MULTI_SERIES,
        ),
        Panel(
            title="各厂商未修复故障 Open faults by vendor",
            description="Active faults now on devices of each maintenance vendor.",
            kind="bargauge",
            grid=GridPos(0, 17, 8, 9),
            targets=[
                Target(
                    'SELECT sum("faults") FROM (SELECT last("faults") AS "faults" FROM "device_status" '
                    f'WHERE {SITE} AND $timeFilter GROUP BY "device", "vendor") WHERE $timeFilter '
                    'GROUP BY "vendor"',
                    alias="$tag_vendor",
                )
            ],
            decimals=0,
            min=0,
            thresholds=(Threshold(None, "green"), Threshold(1, "red")),
            options=BARS,
        ),
        Panel(
            title="各厅预计等候 Expected wait per hall",
            description="Expected wait in each hall; the red line is the 10-minute rule.",
            kind="timeseries",
            grid=GridPos(8, 17, 16, 9),
            targets=[
                Target(
                    f'SELECT max("expected_wait_s") FROM "site" WHERE {SITE} AND $timeFilter '
                    'GROUP BY time($__interval), "site" fill(none)',
                    alias="$tag_site",
                )
            ],
            **WAIT_CHART,
        ),
    ]
    return Dashboard(
        uid="lobbywatch-regional",
        title="区域总览 Regional overview",
        description="Halls compared: live state, share served within 10 minutes, peak hours, open faults.",
        panels=panels,
        variables=[datasource_variable(), site_variable(multi=True)],
        tags=("lobbywatch", "regional"),
        time_from="now-7d",
        refresh="1m",
    )
