"""Vendor uptime: availability, repair times and open faults per device, for maintenance vendors."""

from __future__ import annotations

from dashboards.builder import (
    SITE_MATCHES,
    Dashboard,
    GridPos,
    Panel,
    Target,
    Threshold,
    Variable,
    column_override,
    datasource_variable,
    group_by,
    matches,
    site_variable,
)
from dashboards.hall import BARS, BIG_STAT, DEVICE_STATES, MULTI_SERIES, line_chart
from lobbywatch.protocol.enums import DeviceEventKind
from lobbywatch.series import DeviceEvent, DeviceStatus

# Short names for the two measurements this dashboard reads.
D = DeviceStatus
E = DeviceEvent
WHERE = f"{SITE_MATCHES} AND {matches(D.VENDOR, 'vendor')}"
BY_DEVICE = f'"{D.DEVICE}", "{D.VENDOR}"'
"""GROUP BY per device (with its vendor): the per-device subqueries and their outer queries."""
COUNT_FAULTS = f'count("{E.N}")'
FAULTS_RAISED = (
    f'FROM "{E.MEASUREMENT}" WHERE {WHERE} '
    f"AND \"{E.EVENT}\" = '{DeviceEventKind.FAULT_RAISED.value}' AND $timeFilter"
)
"""Faults raised on the picked vendors' devices (the FROM and WHERE of the queries counting them)."""
AVAILABILITY_THRESHOLDS = (Threshold(None, "red"), Threshold(95, "orange"), Threshold(99, "green"))


def up_minutes(*tags: str) -> str:
    """Subquery: 1 for each minute a device was working, 0 when not (state carried forward).

    The outer query must group by the same tags and use the same time range: InfluxDB 1.x
    pushes the outer time range into the subquery (so ``fill(previous)`` would lose the state
    from before it) and merges series unsorted when the outer groups by fewer tags.

    ``floor(1 / (1 + state_code))`` is 1 for ``state_code`` 0 (working) and 0 for 1..3; the
    status is written on change, so ``fill(previous)`` carries it over the quiet minutes and
    the mean of this series is the time-weighted availability.
    """
    group = "".join(f', "{t}"' for t in tags)
    return (
        f'SELECT floor(1 / (1 + last("{D.STATE_CODE}"))) AS "up" FROM "{D.MEASUREMENT}" '
        f"WHERE {WHERE} AND $timeFilter GROUP BY time(1m){group} fill(previous)"
    )


def faulted_minutes(*tags: str) -> str:
    """Subquery: 1 for each minute a device had an active fault, 0 otherwise."""
    group = "".join(f', "{t}"' for t in tags)
    return (
        f'SELECT 1 - floor(1 / (1 + last("{D.FAULTS}"))) AS "faulted" FROM "{D.MEASUREMENT}" '
        f"WHERE {WHERE} AND $timeFilter GROUP BY time(1m){group} fill(previous)"
    )


def vendor_variable() -> Variable:
    """Vendor picker from the ``vendor`` tag of ``device_status``."""
    return Variable(
        name="vendor",
        label="维保厂商 Vendor",
        query=f'SHOW TAG VALUES FROM "{D.MEASUREMENT}" WITH KEY = "{D.VENDOR}" WHERE {SITE_MATCHES}',
        multi=True,
        include_all=True,
        all_value=".*",
    )


def _device_table() -> Panel:
    """The per-device table: four queries (availability, time with faults, faults raised, state
    now and open faults), each grouped by device and vendor, merged into one row per device,
    with the mean repair time computed as time with faults / faults raised; least available
    first, with bilingual column names.
    """
    return Panel(
        title="设备明细 Per device",
        description=(
            "Per device over the period: availability, time with faults, faults raised, mean repair "
            "time (fault time / faults raised), state now and open faults."
        ),
        kind="table",
        grid=GridPos(0, 7, 24, 12),
        targets=[
            Target(
                f'SELECT mean("up") * 100 AS "availability" FROM ({up_minutes(D.DEVICE, D.VENDOR)}) '
                f"WHERE $timeFilter GROUP BY {BY_DEVICE}",
                result_format="table",
            ),
            Target(
                f'SELECT sum("faulted") * 60 AS "fault_s" FROM ({faulted_minutes(D.DEVICE, D.VENDOR)}) '
                f"WHERE $timeFilter GROUP BY {BY_DEVICE}",
                result_format="table",
            ),
            Target(
                f'SELECT {COUNT_FAULTS} AS "faults_raised" {FAULTS_RAISED} GROUP BY {BY_DEVICE}',
                result_format="table",
            ),
            Target(
                f'SELECT last("{D.STATE_CODE}") AS "{D.STATE_CODE}", last("{D.FAULTS}") AS "open_faults" '
                f'FROM "{D.MEASUREMENT}" WHERE {WHERE} AND $timeFilter GROUP BY {BY_DEVICE}',
                result_format="table",
            ),
        ],
        transformations=[
            {"id": "organize", "options": {"excludeByName": {"Time": True}}},
            {"id": "merge", "options": {}},
            {
                "id": "calculateField",
                "options": {
                    "alias": "mean_repair_s",
                    "binary": {"left": "fault_s", "operator": "/", "right": "faults_raised"},
                    "mode": "binary",
                    "reduce": {"reducer": "sum"},
                },
            },
            {"id": "sortBy", "options": {"sort": [{"desc": False, "field": "availability"}]}},
        ],
        overrides=[
            column_override(D.DEVICE, displayName="设备 Device"),
            column_override(D.VENDOR, displayName="厂商 Vendor"),
            column_override("availability", displayName="可用率 Availability", unit="percent", decimals=2),
            column_override("fault_s", displayName="故障时长 Time with faults", unit="s"),
            column_override("faults_raised", displayName="故障次数 Faults raised", decimals=0),
            column_override("mean_repair_s", displayName="平均修复时间 Mean repair time", unit="s"),
            column_override(
                D.STATE_CODE,
                displayName="当前状态 State now",
                mappings=DEVICE_STATES,
                **{"custom.cellOptions": {"type": "color-background"}},
            ),
            column_override("open_faults", displayName="未修复故障 Open faults", decimals=0),
        ],
        color_mode="fixed",
        custom={"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False},
        options={"cellHeight": "md", "footer": {"show": False}, "showHeader": True},
    )


def vendor_uptime() -> Dashboard:
    """Availability, repair times and open faults per vendor and device."""
    panels = [
        Panel(
            title="可用率 Availability by vendor",
            description=(
                "Share of time the vendor's devices were working (time-weighted per device, "
                "then the mean over the vendor's devices)."
            ),
            kind="bargauge",
            grid=GridPos(0, 0, 12, 7),
            targets=[
                Target(
                    f'SELECT mean("up") * 100 AS "availability" FROM ({up_minutes(D.DEVICE, D.VENDOR)}) '
                    f"WHERE $timeFilter GROUP BY {BY_DEVICE}",
                    result_format="table",
                )
            ],
            transformations=[group_by([D.VENDOR], {"availability": "mean"})],
            unit="percent",
            decimals=2,
            min=0,
            max=100,
            thresholds=AVAILABILITY_THRESHOLDS,
            options={**BARS, "reduceOptions": {"calcs": [], "fields": "/availability/", "values": True}},
        ),
        Panel(
            title="未修复故障 Open faults",
            description="Faults active now on the selected vendors' devices.",
            kind="stat",
            grid=GridPos(12, 0, 6, 7),
            targets=[
                Target(
                    f'SELECT sum("{D.FAULTS}") FROM (SELECT last("{D.FAULTS}") AS "{D.FAULTS}" '
                    f'FROM "{D.MEASUREMENT}" WHERE {WHERE} AND $timeFilter GROUP BY "{D.DEVICE}") '
                    "WHERE $timeFilter"
                )
            ],
            decimals=0,
            thresholds=(Threshold(None, "green"), Threshold(1, "red")),
            options=BIG_STAT,
        ),
        Panel(
            title="故障次数 Faults raised",
            description="Faults raised in the period.",
            kind="stat",
            grid=GridPos(18, 0, 6, 7),
            targets=[Target(f"SELECT {COUNT_FAULTS} {FAULTS_RAISED}")],
            decimals=0,
            thresholds=(Threshold(None, "blue"),),
            options=BIG_STAT,
        ),
        _device_table(),
        Panel(
            title="每日可用率 Availability per day",
            description="Daily time-weighted availability of each device.",
            kind="timeseries",
            grid=GridPos(0, 19, 16, 8),
            targets=[
                Target(
                    f'SELECT mean("up") * 100 FROM ({up_minutes(D.DEVICE, D.VENDOR)}) WHERE $timeFilter '
                    f"GROUP BY time(1d), {BY_DEVICE} fill(none)",
                    alias=f"$tag_{D.DEVICE} ($tag_{D.VENDOR})",
                )
            ],
            unit="percent",
            max=100,
            color_mode="palette-classic",
            custom=line_chart(),
            options=MULTI_SERIES,
        ),
        Panel(
            title="每日故障 Faults per day",
            description="Faults raised per day per vendor.",
            kind="timeseries",
            grid=GridPos(16, 19, 8, 8),
            targets=[
                Target(
                    f'SELECT {COUNT_FAULTS} {FAULTS_RAISED} GROUP BY time(1d), "{E.VENDOR}" fill(0)',
                    alias=f"$tag_{E.VENDOR}",
                )
            ],
            min=0,
            color_mode="palette-classic",
            custom=line_chart(bars=True),
            options=MULTI_SERIES,
        ),
    ]
    return Dashboard(
        uid="lobbywatch-vendor-uptime",
        title="厂商设备可用率 Vendor uptime",
        description="Availability, repair times and open faults per vendor and device.",
        panels=panels,
        variables=[datasource_variable(), site_variable(multi=True), vendor_variable()],
        tags=("lobbywatch", "vendor"),
        time_from="now-30d",
        refresh="5m",
    )
