"""InfluxDB ``alert`` points (docs/data-model.md): one per lifecycle change, for annotations."""

from __future__ import annotations

from typing import Any

from server.alerts.model import AlertUpdate
from server.alerts.templates import render


def alert_points(update: AlertUpdate) -> list[Any]:
    """The ``alert`` point (an ``influxdb_client.Point``) of one update; the server writes it."""
    from influxdb_client.client.write.point import Point
    from influxdb_client.domain.write_precision import WritePrecision

    a = update.alert
    title_en, text_en = render(a, "en", update.event)
    title_zh, text_zh = render(a, "zh-CN", update.event)
    point: Any = Point("alert")  # type: ignore[no-untyped-call]
    point = (
        point.tag("site", a.site)
        .tag("kind", a.kind)
        .tag("severity", str(a.severity))
        .tag("state", str(a.state))
        .field("alert_id", a.id)
        .field("title_en", title_en)
        .field("title_zh", title_zh)
        .field("text_en", text_en)
        .field("text_zh", text_zh)
        .time(update.at, WritePrecision.NS)
    )
    return [point]
