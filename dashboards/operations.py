"""Operations dashboard: the LobbyWatch programs themselves, from Prometheus (PromQL).

What an operator watches across the fleet: ingest rate and latency, gateways by backlog and
age, halls by data delay, cameras by fps and stream state, notification failures, alert
latency. The metric names are listed in docs/server.md, docs/gateway.md, docs/vision.md
("Metrics"); docs/dashboards.md describes the panels.
"""

from __future__ import annotations

from typing import Any

from dashboards.builder import (
    PROMETHEUS_TYPE,
    Dashboard,
    GridPos,
    Panel,
    PromTarget,
    Threshold,
    ValueText,
    Variable,
    datasource_variable,
)
from dashboards.hall import BARS, MULTI_SERIES, line_chart

SITE = 'site=~"$site"'
"""The hall(s) picked in the ``site`` variable (PromQL label matcher)."""
RATE = "$__rate_interval"
INGEST_ROUTE = "/api/v1/ingest"
DELAY_THRESHOLDS = (Threshold(None, "green"), Threshold(60, "orange"), Threshold(300, "red"))
"""Data delay: over a minute is late, over 5 minutes alerts (deploy/prometheus)."""
STREAM_STATES = (ValueText("1", "正常 Up", "green"), ValueText("0", "中断 Down", "red"))
TIME_SERIES: dict[str, Any] = {
    "color_mode": "palette-classic",
    "custom": line_chart(),
    "options": MULTI_SERIES,
}


def quantile(q: float, histogram: str, matchers: str = "", by: str = "") -> str:
    """PromQL: the ``q`` quantile of a histogram's observations over the rate window."""
    keep = ", ".join(["le", *([by] if by else [])])
    selector = f"{histogram}_bucket{{{matchers}}}" if matchers else f"{histogram}_bucket"
    return f"histogram_quantile({q}, sum by ({keep}) (rate({selector}[{RATE}])))"


def site_variable() -> Variable:
    """Hall picker: every ``site`` label of the LobbyWatch series (multi, with All)."""
    query = 'label_values({__name__=~"lobbywatch_.+", site!=""}, site)'
    return Variable(
        name="site",
        label="营业厅 Hall",
        query=query,
        multi=True,
        include_all=True,
        all_value=".*",
        source=PROMETHEUS_TYPE,
    )


def _ingest() -> list[Panel]:
    ingest = f'route="{INGEST_ROUTE}"'
    return [
        Panel(
            title="接收速率 Ingest rate",
            description="Messages of the processed ingest batches per second, by outcome.",
            kind="timeseries",
            grid=GridPos(0, 0, 12, 8),
            targets=[
                PromTarget(
                    f"sum by (outcome) (rate(lobbywatch_server_ingest_messages_total[{RATE}]))",
                    legend="{{outcome}}",
                )
            ],
            unit="mps",
            min=0,
            **TIME_SERIES,
        ),
        Panel(
            title="接收延迟 Ingest latency (p50 / p95)",
            description="Seconds the server took to answer gateways' ingest batches.",
            kind="timeseries",
            grid=GridPos(12, 0, 12, 8),
            targets=[
                PromTarget(quantile(0.5, "lobbywatch_server_http_request_duration_seconds", ingest), "p50"),
                PromTarget(quantile(0.95, "lobbywatch_server_http_request_duration_seconds", ingest), "p95"),
            ],
            unit="s",
            min=0,
            **TIME_SERIES,
        ),
    ]


def _halls() -> list[Panel]:
    bars: dict[str, Any] = {"min": 0, "options": BARS}
    return [
        Panel(
            title="网关积压 Gateways by backlog",
            description="Messages waiting in each gateway's outbox, most first.",
            kind="bargauge",
            grid=GridPos(0, 8, 8, 9),
            targets=[
                PromTarget(
                    f"sort_desc(sum by (site, gateway) (lobbywatch_gateway_backlog_messages{{{SITE}}}))",
                    legend="{{site}} / {{gateway}}",
                    instant=True,
                )
            ],
            decimals=0,
            thresholds=(Threshold(None, "green"), Threshold(1000, "orange")),
            **bars,
        ),
        Panel(
            title="最早积压消息 Gateways by age of oldest message",
            description="Age of the oldest message waiting in each gateway's outbox, oldest first.",
            kind="bargauge",
            grid=GridPos(8, 8, 8, 9),
            targets=[
                PromTarget(
                    "sort_desc(max by (site, gateway) "
                    f"(lobbywatch_gateway_backlog_oldest_age_seconds{{{SITE}}}))",
                    legend="{{site}} / {{gateway}}",
                    instant=True,
                )
            ],
            unit="s",
            thresholds=DELAY_THRESHOLDS,
            **bars,
        ),
        Panel(
            title="营业厅数据延迟 Halls by data delay",
            description=(
                "How far behind the server's data of each hall is: seconds since its gateway's last "
                "batch plus the age of what the gateway still holds. Alert over 5 minutes."
            ),
            kind="bargauge",
            grid=GridPos(16, 8, 8, 9),
            targets=[
                PromTarget(
                    f"sort_desc(max by (site) (lobbywatch_server_hall_data_delay_seconds{{{SITE}}}))",
                    legend="{{site}}",
                    instant=True,
                )
            ],
            unit="s",
            thresholds=DELAY_THRESHOLDS,
            **bars,
        ),
    ]


def _cameras() -> list[Panel]:
    camera = "{{site}} / {{camera}}"
    return [
        Panel(
            title="摄像头帧率 Cameras by fps",
            description="Frames each camera's daemon processes per second, slowest first.",
            kind="bargauge",
            grid=GridPos(0, 17, 8, 9),
            targets=[
                PromTarget(
                    f"sort(max by (site, camera) (lobbywatch_vision_fps{{{SITE}}}))",
                    legend=camera,
                    instant=True,
                )
            ],
            decimals=1,
            min=0,
            thresholds=(Threshold(None, "red"), Threshold(1, "orange"), Threshold(3, "green")),
            options=BARS,
        ),
        Panel(
            title="每帧推理次数 Detector passes per frame",
            description=(
                "Detector passes (full frame, slices, the near model) per processed frame, the cost "
                "of counting: about 11 on a wide, crowded scene, 2-4 on a close one "
                '(docs/vision.md, "Counting").'
            ),
            kind="bargauge",
            grid=GridPos(8, 17, 8, 9),
            targets=[
                PromTarget(
                    "sort_desc(sum by (site, camera) "
                    f"(rate(lobbywatch_vision_detector_passes_total{{{SITE}}}[$__rate_interval])) "
                    "/ sum by (site, camera) (rate(lobbywatch_vision_frames_total"
                    f'{{{SITE}, outcome="processed"}}[$__rate_interval])))',
                    legend=camera,
                    instant=True,
                )
            ],
            decimals=1,
            min=0,
            thresholds=(Threshold(None, "green"), Threshold(16, "orange")),
            options=BARS,
        ),
        Panel(
            title="视频流状态 Camera stream state",
            description="Whether each camera's stream delivers frames now.",
            kind="stat",
            grid=GridPos(16, 17, 8, 9),
            targets=[
                PromTarget(
                    f"min by (site, camera) (lobbywatch_vision_stream_up{{{SITE}}})",
                    legend=camera,
                    instant=True,
                )
            ],
            mappings=STREAM_STATES,
            thresholds=(Threshold(None, "red"), Threshold(1, "green")),
            options={
                "colorMode": "background",
                "graphMode": "none",
                "justifyMode": "center",
                "orientation": "auto",
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "textMode": "value_and_name",
            },
        ),
    ]


def _alerting() -> list[Panel]:
    attempts = "lobbywatch_server_notification_attempts_total"
    return [
        Panel(
            title="通知失败 Notification failures by channel",
            description="Failed delivery attempts per channel type (0: all its attempts succeeded).",
            kind="timeseries",
            grid=GridPos(0, 26, 12, 8),
            targets=[
                PromTarget(
                    f'sum by (channel_type) (increase({attempts}{{result="failed"}}[{RATE}])) '
                    f"or sum by (channel_type) (increase({attempts}[{RATE}])) * 0",
                    legend="{{channel_type}}",
                )
            ],
            decimals=0,
            min=0,
            thresholds=(Threshold(None, "green"), Threshold(1, "red")),
            **TIME_SERIES,
        ),
        Panel(
            title="告警延迟 Alert latency (p95)",
            description=(
                "Alert evaluation: seconds the engine took per ingest batch. Delivery: seconds from an "
                "update's queuing to each attempt's answer, per channel type."
            ),
            kind="timeseries",
            grid=GridPos(12, 26, 12, 8),
            targets=[
                PromTarget(
                    quantile(0.95, "lobbywatch_server_alert_evaluation_duration_seconds"), "evaluation"
                ),
                PromTarget(
                    quantile(0.95, "lobbywatch_server_notification_latency_seconds", by="channel_type"),
                    legend="delivery {{channel_type}}",
                ),
            ],
            unit="s",
            min=0,
            **TIME_SERIES,
        ),
    ]


def operations() -> Dashboard:
    """The system itself: ingest, gateways, halls' data delay, cameras, notifications, alerting."""
    return Dashboard(
        uid="lobbywatch-operations",
        title="系统运行 Operations",
        description="LobbyWatch programs across the fleet, from Prometheus: ingest, gateways, "
        "data delay, cameras, notifications, alert latency.",
        panels=[*_ingest(), *_halls(), *_cameras(), *_alerting()],
        variables=[datasource_variable(PROMETHEUS_TYPE), site_variable()],
        tags=("lobbywatch", "operations"),
        time_from="now-3h",
        refresh="30s",
    )
