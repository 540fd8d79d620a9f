"""InfluxDB ``alert`` points (docs/data-model.md): one per lifecycle change, for annotations."""

from __future__ import annotations

from typing import Any

from lobbywatch.series import Alert
from server.alerts.model import AlertUpdate
from server.alerts.templates import render


def alert_points(update: AlertUpdate) -> list[Any]:
    """The ``alert`` point (an ``influxdb_client.Point``) of one update; the server writes it."""
    from influxdb_client.client.write.point import Point
    from influxdb_client.domain.write_precision import WritePrecision

    a = update.alert
    title_en, text_en = render(a, "en", update.event)
    title_zh, text_zh = render(a, "zh-CN", update.event)
    point: Any = Point(Alert.MEASUREMENT)  # type: ignore[no-untyped-call]
    point = (
        point.tag(Alert.SITE, a.site)
        .tag(Alert.KIND, a.kind)
        .tag(Alert.SEVERITY, str(a.severity))
        .tag(Alert.STATE, str(a.state))
        .field(Alert.ALERT_ID, a.id)
        .field(Alert.TITLE_EN, title_en)
        .field(Alert.TITLE_ZH, title_zh)
        .field(Alert.TEXT_EN, text_en)
        .field(Alert.TEXT_ZH, text_zh)
        .time(update.at, WritePrecision.NS)
    )
    return [point]
