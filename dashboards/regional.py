"""Regional overview: halls side by side for regional operations."""

from __future__ import annotations

from dashboards.builder import (
    SITE_MATCHES,
    Dashboard,
    GridPos,
    Panel,
    Target,
    Threshold,
    column_override,
    datasource_variable,
    site_variable,
)
from dashboards.hall import ARRIVALS, BARS, MULTI_SERIES, WAIT_CHART, line_chart
from lobbywatch.series import CustomerVisit, DeviceStatus, Site

HALL_COLUMNS = (Site.OCCUPANCY, Site.EXPECTED_WAIT_S, Site.KIOSKS_WORKING, Site.COUNTERS_SERVING)
"""The ``site`` fields the halls table compares."""
WITHIN_LIMIT_PCT = (
    f'SELECT mean("{CustomerVisit.WITHIN_LIMIT}") * 100 FROM "{CustomerVisit.MEASUREMENT}" '
    f"WHERE {SITE_MATCHES} AND $timeFilter"
)
"""Share (%) of the picked halls' customers who waited and were served within the limit (one
point per settled customer, joined over every camera that saw them: a walk-out counts as not
served in time), as ``/visits/summary`` counts it; the caller groups it."""
SHARE_THRESHOLDS = (Threshold(None, "red"), Threshold(80, "orange"), Threshold(90, "green"))


def regional_overview() -> Dashboard:
    """Halls compared: live state, share served within 10 minutes, peak hours, open faults."""
    D = DeviceStatus
    panels = [
        Panel(
            title="各厅对比 Halls side by side",
            description="Latest state of each hall.",
            kind="table",
            grid=GridPos(0, 0, 14, 8),
            targets=[
                Target(
                    "SELECT "
                    + ", ".join(f'last("{c}") AS "{c}"' for c in HALL_COLUMNS)
                    + f' FROM "{Site.MEASUREMENT}" WHERE {SITE_MATCHES} AND $timeFilter '
                    + f'GROUP BY "{Site.SITE}"',
                    result_format="table",
                )
            ],
            transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True}}}],
            overrides=[
                column_override(Site.SITE, displayName="营业厅 Hall"),
                column_override(Site.OCCUPANCY, displayName="厅内人数 People"),
                column_override(Site.EXPECTED_WAIT_S, displayName="预计等候 Expected wait", unit="s"),
                column_override(Site.KIOSKS_WORKING, displayName="可用自助机 Kiosks working"),
                column_override(Site.COUNTERS_SERVING, displayName="受理中台席 Counters serving"),
            ],
            decimals=0,
            custom={"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False},
            options={"cellHeight": "md", "footer": {"show": False}, "showHeader": True},
        ),
        Panel(
            title="10分钟内办理占比 Served within 10 min",
            description=(
                "Share of the customers who waited that were served within the 10-minute limit, "
                "per hall (each customer once, over every camera that saw them, counted a few "
                "minutes after they were last seen)."
            ),
            kind="bargauge",
            grid=GridPos(14, 0, 10, 8),
            targets=[
                Target(
                    f'{WITHIN_LIMIT_PCT} GROUP BY "{CustomerVisit.SITE}"',
                    alias=f"$tag_{CustomerVisit.SITE}",
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
            description="Share of the customers who waited served within 10 minutes, day by day, per hall.",
            kind="timeseries",
            grid=GridPos(0, 8, 12, 9),
            targets=[
                Target(
                    f'{WITHIN_LIMIT_PCT} GROUP BY time(1d), "{CustomerVisit.SITE}" fill(none)',
                    alias=f"$tag_{CustomerVisit.SITE}",
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
                    f'{ARRIVALS} AND $timeFilter GROUP BY time(1h), "{Site.SITE}" fill(0)',
                    alias=f"$tag_{Site.SITE}",
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
                    f'SELECT sum("{D.FAULTS}") FROM (SELECT last("{D.FAULTS}") AS "{D.FAULTS}" '
                    f'FROM "{D.MEASUREMENT}" WHERE {SITE_MATCHES} AND $timeFilter '
                    f'GROUP BY "{D.DEVICE}", "{D.VENDOR}") WHERE $timeFilter GROUP BY "{D.VENDOR}"',
                    alias=f"$tag_{D.VENDOR}",
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
                    f'SELECT max("{Site.EXPECTED_WAIT_S}") FROM "{Site.MEASUREMENT}" WHERE {SITE_MATCHES} '
                    f'AND $timeFilter GROUP BY time($__interval), "{Site.SITE}" fill(none)',
                    alias=f"$tag_{Site.SITE}",
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
