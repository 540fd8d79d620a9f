"""Hall wall display: what a hall's TV shows, readable from 3 m (dark theme, big values).

Also the display settings the other dashboards share (stat and bar styles, wait charts,
device states).
"""

from __future__ import annotations

from typing import Any

from dashboards.builder import (
    DS_REF,
    SITE_MATCHES,
    Dashboard,
    GridPos,
    Json,
    Panel,
    Target,
    Threshold,
    ValueText,
    datasource_variable,
    group_by,
    matches,
    site_variable,
    zone_variable,
)
from lobbywatch.series import Alert, Arrivals, DeviceStatus, Site, Zone

ZONE = matches(Zone.ZONE, "zone")
ARRIVALS = f'SELECT sum("{Arrivals.N}") FROM "{Arrivals.MEASUREMENT}" WHERE {SITE_MATCHES}'
"""Arrivals in the picked hall(s); the caller adds the time range and grouping."""
WAIT_LIMIT_S = 600
"""The floor rule: nobody waits more than 10 minutes (DOMAIN.md)."""
MIN_KIOSKS = 2
"""The floor rule: at least 2 working kiosks per hall."""

BIG_STAT: Json = {
    "colorMode": "background",
    "graphMode": "none",
    "justifyMode": "center",
    "orientation": "auto",
    "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
    "text": {"titleSize": 28, "valueSize": 96},
    "textMode": "value",
    "wideLayout": True,
}
BARS: Json = {
    "displayMode": "basic",
    "minVizHeight": 24,
    "minVizWidth": 8,
    "orientation": "horizontal",
    "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
    "showUnfilled": True,
    "text": {"titleSize": 26, "valueSize": 40},
    "valueMode": "color",
}
LEGEND: Json = {"displayMode": "list", "placement": "bottom", "showLegend": True}
# Time series of several halls or zones: legend below, every series in the tooltip.
MULTI_SERIES: Json = {"legend": LEGEND, "tooltip": {"mode": "multi", "sort": "desc"}}
# A wait chart (seconds) of several series, the 10-minute rule drawn as a red line.
WAIT_LINE = (Threshold(None, "transparent"), Threshold(WAIT_LIMIT_S, "red"))
WAIT_THRESHOLDS = (Threshold(None, "green"), Threshold(480, "orange"), Threshold(WAIT_LIMIT_S, "red"))

USUAL_WEEKS = 4
"""How many previous same weekdays make the "usual" arrivals figure."""

DEVICE_STATES = (
    ValueText("0", "正常 Working", "green"),
    ValueText("1", "故障 Faulted", "red"),
    ValueText("2", "停用 Out of service", "orange"),
    ValueText("3", "离线 Offline", "#808080"),
)
"""``device_status.state_code`` (docs/data-model.md) shown bilingually."""
ALERT_COLUMNS = (Alert.STATE, Alert.SEVERITY, Alert.KIND, Alert.TITLE_ZH, Alert.TITLE_EN)
"""What the active alerts table shows of each alert (besides its time)."""


def usual_arrivals(weeks_ago: int) -> Target:
    """Arrivals on the same weekday ``weeks_ago`` weeks back, over the same hours as today so far."""
    shift = f"{7 * weeks_ago}d"
    return Target(
        f"{ARRIVALS} AND time >= ${{__from}}ms - {shift} AND time <= ${{__to}}ms - {shift}",
        alias=f"{weeks_ago}w",
        result_format="table",
    )


def line_chart(*, bars: bool = False, threshold_line: bool = False) -> Json:
    return {
        "drawStyle": "bars" if bars else "line",
        "fillOpacity": 60 if bars else 15,
        "lineWidth": 3,
        "showPoints": "never",
        "spanNulls": True,
        "axisSoftMin": 0,
        "thresholdsStyle": {"mode": "line+area" if threshold_line else "off"},
    }


# Panel settings of a wait chart: seconds, the 10-minute line, one colour per series.
WAIT_CHART: dict[str, Any] = {
    "unit": "s",
    "min": 0,
    "thresholds": WAIT_LINE,
    "color_mode": "palette-classic",
    "custom": line_chart(threshold_line=True),
    "options": MULTI_SERIES,
}


def _alerts_table() -> Panel:
    """The wall's active-alerts table: the last 24 h of ``alert`` points of the hall, reduced to
    each alert's latest state (group by alert id, last of every column), kept when that is
    firing or acknowledged, newest first, with bilingual column names and coloured states.
    """
    return Panel(
        title="当前告警 Active alerts",
        description="Alerts firing or acknowledged now (latest lifecycle state per alert, last 24 h).",
        kind="table",
        grid=GridPos(0, 21, 24, 6),
        time_from="24h",
        targets=[
            Target(
                "SELECT "
                + ", ".join(f'"{c}"' for c in (Alert.ALERT_ID, *ALERT_COLUMNS))
                + f' FROM "{Alert.MEASUREMENT}" WHERE {SITE_MATCHES} AND $timeFilter',
                result_format="table",
            )
        ],
        transformations=[
            group_by([Alert.ALERT_ID], {c: "last" for c in ("Time", *ALERT_COLUMNS)}),
            {
                "id": "filterByValue",
                "options": {
                    "filters": [
                        {
                            "config": {"id": "regex", "options": {"value": "^(firing|acknowledged)$"}},
                            "fieldName": f"{Alert.STATE} (last)",
                        }
                    ],
                    "match": "any",
                    "type": "include",
                },
            },
            {"id": "sortBy", "options": {"sort": [{"desc": True, "field": "Time (last)"}]}},
            {
                "id": "organize",
                "options": {
                    "excludeByName": {Alert.ALERT_ID: True},
                    "renameByName": {
                        "Time (last)": "时间 Time",
                        f"{Alert.STATE} (last)": "状态 State",
                        f"{Alert.SEVERITY} (last)": "级别 Severity",
                        f"{Alert.KIND} (last)": "类型 Kind",
                        f"{Alert.TITLE_ZH} (last)": "告警",
                        f"{Alert.TITLE_EN} (last)": "Alert",
                    },
                },
            },
        ],
        mappings=(
            ValueText("firing", "告警中 Firing", "red"),
            ValueText("acknowledged", "已确认 Acknowledged", "orange"),
            ValueText("critical", "严重 Critical", "red"),
            ValueText("warning", "警告 Warning", "orange"),
            ValueText("info", "提示 Info", "blue"),
        ),
        custom={"align": "auto", "cellOptions": {"type": "color-text"}, "inspect": False},
        color_mode="fixed",
        options={"cellHeight": "lg", "footer": {"show": False}, "showHeader": True},
    )


def hall_wall() -> Dashboard:
    """The hall wall display (1920x1080, refresh 10 s)."""
    panels = [
        Panel(
            title="预计等候 Expected wait",
            description="Expected wait for a customer arriving now (max over queue zones); red from 10 min.",
            kind="stat",
            grid=GridPos(0, 0, 5, 6),
            targets=[
                Target(
                    f'SELECT last("{Site.EXPECTED_WAIT_S}") FROM "{Site.MEASUREMENT}" '
                    f"WHERE {SITE_MATCHES} AND $timeFilter"
                )
            ],
            unit="s",
            decimals=0,
            thresholds=WAIT_THRESHOLDS,
            options=BIG_STAT,
        ),
        Panel(
            title="最长等候 Longest wait now",
            description="The longest current wait of anyone in the selected zones.",
            kind="stat",
            grid=GridPos(5, 0, 5, 6),
            targets=[
                Target(
                    f'SELECT max("{Zone.LONGEST_WAIT_S}") FROM (SELECT last("{Zone.LONGEST_WAIT_S}") '
                    f'AS "{Zone.LONGEST_WAIT_S}" FROM "{Zone.MEASUREMENT}" WHERE {SITE_MATCHES} AND {ZONE} '
                    f'AND $timeFilter GROUP BY "{Zone.ZONE}") WHERE $timeFilter'
                )
            ],
            unit="s",
            decimals=0,
            thresholds=WAIT_THRESHOLDS,
            options=BIG_STAT,
        ),
        Panel(
            title="可用自助机 Kiosks working",
            description=f"Self-service kiosks working now; the hall needs at least {MIN_KIOSKS}.",
            kind="stat",
            grid=GridPos(10, 0, 4, 6),
            targets=[
                Target(
                    f'SELECT last("{Site.KIOSKS_WORKING}") FROM "{Site.MEASUREMENT}" '
                    f"WHERE {SITE_MATCHES} AND $timeFilter"
                )
            ],
            decimals=0,
            thresholds=(Threshold(None, "red"), Threshold(MIN_KIOSKS, "green")),
            options=BIG_STAT,
        ),
        Panel(
            title="厅内人数 People in hall",
            description="People in the hall now (sum over zones).",
            kind="stat",
            grid=GridPos(14, 0, 3, 6),
            targets=[
                Target(
                    f'SELECT last("{Site.OCCUPANCY}") FROM "{Site.MEASUREMENT}" '
                    f"WHERE {SITE_MATCHES} AND $timeFilter"
                )
            ],
            decimals=0,
            thresholds=(Threshold(None, "blue"),),
            options=BIG_STAT,
        ),
        Panel(
            title="今日到店 Arrivals today",
            description="People who entered the hall today.",
            kind="stat",
            grid=GridPos(17, 0, 4, 6),
            time_from="now/d",
            targets=[Target(f"{ARRIVALS} AND $timeFilter")],
            decimals=0,
            thresholds=(Threshold(None, "purple"),),
            options=BIG_STAT,
        ),
        Panel(
            title="常态至此 Usual by now",
            description=(
                f"Arrivals usual by this time of day on this weekday: the mean over the previous "
                f"{USUAL_WEEKS} same weekdays (weeks without data are left out)."
            ),
            kind="stat",
            grid=GridPos(21, 0, 3, 6),
            time_from="now/d",
            targets=[usual_arrivals(week) for week in range(1, USUAL_WEEKS + 1)],
            transformations=[{"id": "merge", "options": {}}],
            decimals=0,
            thresholds=(Threshold(None, "#8e8e8e"),),
            options={**BIG_STAT, "reduceOptions": {"calcs": ["mean"], "fields": "/^sum$/", "values": False}},
        ),
        Panel(
            title="各区人数 Occupancy per zone",
            description="People in each zone now.",
            kind="bargauge",
            grid=GridPos(0, 6, 8, 8),
            targets=[
                Target(
                    f'SELECT last("{Zone.OCCUPANCY}") FROM "{Zone.MEASUREMENT}" '
                    f'WHERE {SITE_MATCHES} AND {ZONE} AND $timeFilter GROUP BY "{Zone.ZONE}"',
                    alias=f"$tag_{Zone.ZONE}",
                )
            ],
            decimals=0,
            min=0,
            thresholds=(Threshold(None, "blue"),),
            options=BARS,
        ),
        Panel(
            title="排队人数 Queue length",
            description="People in each queue and waiting zone; amber from 3 (no upselling in the line).",
            kind="bargauge",
            grid=GridPos(8, 6, 8, 8),
            targets=[
                Target(
                    f'SELECT last("{Zone.QUEUE_LENGTH}") FROM "{Zone.MEASUREMENT}" '
                    f'WHERE {SITE_MATCHES} AND {ZONE} AND $timeFilter GROUP BY "{Zone.ZONE}"',
                    alias=f"$tag_{Zone.ZONE}",
                )
            ],
            decimals=0,
            min=0,
            thresholds=(Threshold(None, "green"), Threshold(3, "orange"), Threshold(8, "red")),
            options=BARS,
        ),
        Panel(
            title="设备状态 Devices",
            description="Each device's state: working, faulted, out of service or offline.",
            kind="stat",
            grid=GridPos(16, 6, 8, 8),
            time_from="24h",
            targets=[
                Target(
                    f'SELECT last("{DeviceStatus.STATE_CODE}") FROM "{DeviceStatus.MEASUREMENT}" '
                    f'WHERE {SITE_MATCHES} AND $timeFilter GROUP BY "{DeviceStatus.DEVICE}"',
                    alias=f"$tag_{DeviceStatus.DEVICE}",
                )
            ],
            mappings=DEVICE_STATES,
            thresholds=(Threshold(None, "green"),),
            color_mode="thresholds",
            options={
                **BIG_STAT,
                "text": {"titleSize": 20, "valueSize": 24},
                "textMode": "value_and_name",
                "orientation": "horizontal",
            },
        ),
        Panel(
            title="预计等候 vs 10分钟 Expected wait vs the 10-minute line",
            description=(
                "Expected wait of the hall and of each queue zone; the red line is the 10-minute rule."
            ),
            kind="timeseries",
            grid=GridPos(0, 14, 12, 7),
            targets=[
                Target(
                    f'SELECT max("{Site.EXPECTED_WAIT_S}") FROM "{Site.MEASUREMENT}" WHERE {SITE_MATCHES} '
                    "AND $timeFilter GROUP BY time($__interval) fill(previous)",
                    alias="全厅 Hall",
                ),
                Target(
                    f'SELECT max("{Zone.EXPECTED_WAIT_S}") FROM "{Zone.MEASUREMENT}" '
                    f"WHERE {SITE_MATCHES} AND {ZONE} AND $timeFilter "
                    f'GROUP BY time($__interval), "{Zone.ZONE}" fill(none)',
                    alias=f"$tag_{Zone.ZONE}",
                ),
            ],
            **WAIT_CHART,
        ),
        Panel(
            title="今日到店 Arrivals today (per 15 min)",
            description="Arrivals per 15 minutes since midnight; compare with the panel on the right.",
            kind="timeseries",
            grid=GridPos(12, 14, 6, 7),
            time_from="now/d",
            targets=[
                Target(
                    f"{ARRIVALS} AND $timeFilter GROUP BY time(15m) fill(0)",
                    alias="今日 Today",
                )
            ],
            min=0,
            color_mode="fixed",
            custom=line_chart(bars=True),
            options={"legend": LEGEND, "tooltip": {"mode": "single", "sort": "none"}},
            overrides=[
                {
                    "matcher": {"id": "byName", "options": "今日 Today"},
                    "properties": [{"id": "color", "value": {"fixedColor": "purple", "mode": "fixed"}}],
                }
            ],
        ),
        Panel(
            title="常态: 上周同日 Usual: same weekday last week",
            description="The same weekday one week ago, over the same hours: the usual curve for today.",
            kind="timeseries",
            grid=GridPos(18, 14, 6, 7),
            time_from="now/d",
            time_shift="7d",
            targets=[
                Target(
                    f"{ARRIVALS} AND $timeFilter GROUP BY time(15m) fill(0)",
                    alias="上周同日 Last week",
                )
            ],
            min=0,
            color_mode="fixed",
            custom=line_chart(bars=True),
            options={"legend": LEGEND, "tooltip": {"mode": "single", "sort": "none"}},
        ),
        _alerts_table(),
    ]
    return Dashboard(
        uid="lobbywatch-hall-wall",
        title="营业厅大屏 Hall wall display",
        description="Live floor view for one hall's wall TV: waits, queues, kiosks, devices, alerts.",
        panels=panels,
        variables=[datasource_variable(), site_variable(), zone_variable()],
        tags=("lobbywatch", "wall"),
        time_from="now-6h",
        refresh="10s",
        annotations=[alert_annotation()],
    )


def alert_annotation() -> Json:
    """Firing alerts as annotations on every time chart of the dashboard."""
    return {
        "datasource": dict(DS_REF),
        "enable": True,
        "iconColor": "red",
        "name": "告警 Alerts",
        "query": f'SELECT "{Alert.TITLE_ZH}", "{Alert.TITLE_EN}", "{Alert.KIND}" FROM "{Alert.MEASUREMENT}" '
        f"WHERE {SITE_MATCHES} AND \"{Alert.STATE}\" = 'firing' AND $timeFilter",
        "tagsColumn": Alert.KIND,
        "textColumn": Alert.TITLE_EN,
        "titleColumn": Alert.TITLE_ZH,
    }
