"""A small typed builder for Grafana dashboards (JSON model, schema version 39).

Dashboards are described in Python (``dashboards/hall.py`` and friends) with these
classes and turned into the JSON Grafana imports. Only what LobbyWatch uses is modelled:
stat, bar gauge, time series and table panels with raw InfluxQL targets (or PromQL ones,
:class:`PromTarget`, for the operations dashboard), thresholds, value mappings, query and
data source variables. Grid positions are checked so a panel never leaves Grafana's
24-column grid. InfluxQL queries name measurements, tags and fields through
:mod:`lobbywatch.series` (the names the server writes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from lobbywatch.series import SITE, Site, Zone

Json = dict[str, Any]

GRID_COLUMNS = 24
SCHEMA_VERSION = 39
DATASOURCE_TYPE = "influxdb"
DATASOURCE_UID = "lobbywatch-influxdb"
"""Uid of the provisioned / pushed InfluxDB data source (deploy/grafana and ``push``)."""
DATASOURCE_NAME = "LobbyWatch InfluxDB"
DS_REF: Json = {"type": DATASOURCE_TYPE, "uid": "${datasource}"}
"""Panels and variables use the ``datasource`` variable, so a site may pick another source."""
PROMETHEUS_TYPE = "prometheus"
PROMETHEUS_UID = "lobbywatch-prometheus"
"""Uid of the provisioned Prometheus data source (deploy/grafana), for the operations dashboard."""
PROMETHEUS_NAME = "LobbyWatch Prometheus"
SOURCES: dict[str, tuple[str, str]] = {
    DATASOURCE_TYPE: (DATASOURCE_UID, DATASOURCE_NAME),
    PROMETHEUS_TYPE: (PROMETHEUS_UID, PROMETHEUS_NAME),
}
"""Data source type -> (uid, name) of the LobbyWatch data source of that type."""


def source_ref(source_type: str) -> Json:
    """A reference to the ``datasource`` variable, of data source type ``source_type``."""
    return {"type": source_type, "uid": "${datasource}"}


PanelKind = Literal["stat", "bargauge", "timeseries", "table"]


def matches(tag: str, variable: str) -> str:
    """InfluxQL condition: ``tag`` is one of the values picked in the variable (regex form)."""
    return f'"{tag}" =~ /^${variable}$/'


SITE_MATCHES = matches(SITE, "site")
"""The hall(s) picked in the ``site`` variable."""


ResultFormat = Literal["time_series", "table"]


@dataclass(frozen=True)
class GridPos:
    """Where a panel sits: x and w in grid columns (0..24), y and h in grid rows (~30 px)."""

    x: int
    y: int
    w: int
    h: int

    def __post_init__(self) -> None:
        if not (0 <= self.x < GRID_COLUMNS and self.w >= 1 and self.x + self.w <= GRID_COLUMNS):
            raise ValueError(f"panel at x={self.x} w={self.w} leaves the {GRID_COLUMNS}-column grid")
        if self.y < 0 or self.h < 1:
            raise ValueError(f"panel at y={self.y} h={self.h}: y must be >= 0 and h >= 1")

    def overlaps(self, other: GridPos) -> bool:
        """True when the two rectangles share a cell."""
        return not (
            self.x + self.w <= other.x
            or other.x + other.w <= self.x
            or self.y + self.h <= other.y
            or other.y + other.h <= self.y
        )

    def to_json(self) -> Json:
        return {"h": self.h, "w": self.w, "x": self.x, "y": self.y}


@dataclass(frozen=True)
class Target:
    """One raw InfluxQL query of a panel. ``alias`` may use ``$tag_<name>`` (Grafana alias syntax)."""

    query: str
    alias: str = ""
    result_format: ResultFormat = "time_series"
    hide: bool = False

    def to_json(self, ref_id: str) -> Json:
        out: Json = {
            "datasource": dict(DS_REF),
            "query": self.query,
            "rawQuery": True,
            "refId": ref_id,
            "resultFormat": self.result_format,
        }
        if self.alias:
            out["alias"] = self.alias
        if self.hide:
            out["hide"] = True
        return out


@dataclass(frozen=True)
class PromTarget:
    """One PromQL query of a panel. ``legend`` may use ``{{label}}``; ``instant`` asks for the
    value now only (bar gauges and tables ranking series), else a range (time series)."""

    expr: str
    legend: str = ""
    instant: bool = False

    def to_json(self, ref_id: str) -> Json:
        return {
            "datasource": source_ref(PROMETHEUS_TYPE),
            "editorMode": "code",
            "expr": self.expr,
            "instant": self.instant,
            "legendFormat": self.legend or "__auto",
            "range": not self.instant,
            "refId": ref_id,
        }


@dataclass(frozen=True)
class Threshold:
    """A threshold step: from ``value`` upwards the colour applies (``None`` is the base)."""

    value: float | None
    color: str

    def to_json(self) -> Json:
        return {"color": self.color, "value": self.value}


@dataclass(frozen=True)
class ValueText:
    """A value mapping: the raw value shown as ``text`` in ``color``."""

    value: str
    text: str
    color: str


@dataclass(frozen=True)
class Panel:
    """A panel: kind, title (bilingual), position, queries and display settings."""

    title: str
    kind: PanelKind
    grid: GridPos
    targets: Sequence[Target] | Sequence[PromTarget]
    description: str = ""
    unit: str | None = None
    decimals: int | None = None
    min: float | None = None
    max: float | None = None
    thresholds: Sequence[Threshold] = (Threshold(None, "green"),)
    mappings: Sequence[ValueText] = ()
    color_mode: str = "thresholds"
    options: Json = field(default_factory=dict)
    custom: Json = field(default_factory=dict)
    overrides: Sequence[Json] = ()
    transformations: Sequence[Json] = ()
    time_from: str | None = None
    """Panel's own relative time (Grafana "Relative time"), e.g. ``now/d`` or ``24h``."""
    time_shift: str | None = None
    """Panel's time shift (Grafana "Time shift"), e.g. ``7d`` for the same weekday last week."""
    interval: str | None = None
    """Minimum ``$__interval`` for this panel's queries."""

    def __post_init__(self) -> None:
        if not self.targets:
            raise ValueError(f"panel {self.title!r} has no query")

    def to_json(self, panel_id: int) -> Json:
        defaults: Json = {
            "color": {"mode": self.color_mode},
            "mappings": value_mappings(self.mappings),
            "thresholds": {"mode": "absolute", "steps": [t.to_json() for t in self.thresholds]},
        }
        if self.custom:
            defaults["custom"] = self.custom
        for key, value in (("unit", self.unit), ("decimals", self.decimals), ("min", self.min)):
            if value is not None:
                defaults[key] = value
        if self.max is not None:
            defaults["max"] = self.max
        refs = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        targets: list[Target | PromTarget] = [*self.targets]
        source = PROMETHEUS_TYPE if isinstance(targets[0], PromTarget) else DATASOURCE_TYPE
        out: Json = {
            "datasource": source_ref(source),
            "description": self.description,
            "fieldConfig": {"defaults": defaults, "overrides": list(self.overrides)},
            "gridPos": self.grid.to_json(),
            "id": panel_id,
            "options": self.options,
            "targets": [t.to_json(refs[i]) for i, t in enumerate(targets)],
            "title": self.title,
            "transformations": list(self.transformations),
            "type": self.kind,
        }
        if self.time_from:
            out["timeFrom"] = self.time_from
        if self.time_shift:
            out["timeShift"] = self.time_shift
        if self.interval:
            out["interval"] = self.interval
        return out


def value_mappings(items: Sequence[ValueText]) -> list[Json]:
    """Grafana value mappings (raw value -> text and colour)."""
    if not items:
        return []
    return [
        {
            "type": "value",
            "options": {m.value: {"color": m.color, "index": i, "text": m.text} for i, m in enumerate(items)},
        }
    ]


def group_by(keys: Sequence[str], aggregate: dict[str, str]) -> Json:
    """A Grafana ``groupBy`` transformation: group rows by ``keys``, reduce the other columns.

    >>> group_by(["vendor"], {"availability": "mean"})["options"]["fields"]["availability"]
    {'aggregations': ['mean'], 'operation': 'aggregate'}
    """
    fields: Json = {k: {"aggregations": [], "operation": "groupby"} for k in keys}
    for column, calc in aggregate.items():
        fields[column] = {"aggregations": [calc], "operation": "aggregate"}
    return {"id": "groupBy", "options": {"fields": fields}}


def column_override(column: str, **properties: Any) -> Json:
    """A field override for one column: ``column_override("fault_s", unit="s", displayName="...")``.

    ``mappings`` takes a sequence of :class:`ValueText`.
    """
    props = []
    for key, value in properties.items():
        if key == "mappings":
            value = value_mappings(value)
        props.append({"id": key, "value": value})
    return {"matcher": {"id": "byName", "options": column}, "properties": props}


@dataclass(frozen=True)
class Variable:
    """A template variable: ``query`` (InfluxQL ``SHOW TAG VALUES``, or PromQL ``label_values``
    with ``source`` Prometheus) or ``datasource`` (of type ``source``)."""

    name: str
    label: str
    kind: Literal["query", "datasource"] = "query"
    query: str = ""
    multi: bool = False
    include_all: bool = False
    all_value: str | None = None
    default: str | None = None
    source: str = DATASOURCE_TYPE

    def to_json(self) -> Json:
        if self.kind == "datasource":
            uid, name = SOURCES[self.source]
            return {
                "current": {"selected": True, "text": name, "value": uid},
                "hide": 0,
                "includeAll": False,
                "label": self.label,
                "multi": False,
                "name": self.name,
                "options": [],
                "query": self.source,
                "refresh": 1,
                "regex": "",
                "skipUrlSync": False,
                "type": "datasource",
            }
        current: Json = {}
        if self.include_all:
            current = {"selected": True, "text": ["All"], "value": ["$__all"]}
        out: Json = {
            "current": current,
            "datasource": source_ref(self.source),
            "definition": self.query,
            "hide": 0,
            "includeAll": self.include_all,
            "label": self.label,
            "multi": self.multi,
            "name": self.name,
            "options": [],
            "query": self.query,
            "refresh": 2,
            "regex": "",
            "skipUrlSync": False,
            "sort": 1,
            "type": "query",
        }
        if self.all_value is not None:
            out["allValue"] = self.all_value
        return out


@dataclass(frozen=True)
class Dashboard:
    """A whole dashboard; ``to_json`` numbers the panels and checks they do not overlap."""

    uid: str
    title: str
    description: str
    panels: Sequence[Panel]
    variables: Sequence[Variable]
    tags: Sequence[str] = ("lobbywatch",)
    time_from: str = "now-6h"
    refresh: str = "30s"
    timezone: str = "browser"
    annotations: Sequence[Json] = ()

    def check_layout(self) -> None:
        """Raise ValueError when two panels overlap."""
        for i, a in enumerate(self.panels):
            for b in self.panels[i + 1 :]:
                if a.grid.overlaps(b.grid):
                    raise ValueError(f"{self.uid}: panels {a.title!r} and {b.title!r} overlap")

    def to_json(self) -> Json:
        self.check_layout()
        builtin: Json = {
            "builtIn": 1,
            "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True,
            "hide": True,
            "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts",
            "type": "dashboard",
        }
        return {
            "annotations": {"list": [builtin, *self.annotations]},
            "description": self.description,
            "editable": True,
            "fiscalYearStartMonth": 0,
            "graphTooltip": 1,
            "links": [],
            "liveNow": False,
            "panels": [p.to_json(i + 1) for i, p in enumerate(self.panels)],
            "refresh": self.refresh,
            "schemaVersion": SCHEMA_VERSION,
            "style": "dark",
            "tags": list(self.tags),
            "templating": {"list": [v.to_json() for v in self.variables]},
            "time": {"from": self.time_from, "to": "now"},
            "timepicker": {"refresh_intervals": ["10s", "30s", "1m", "5m", "15m"]},
            "timezone": self.timezone,
            "title": self.title,
            "uid": self.uid,
            "version": 1,
            "weekStart": "",
        }


def datasource_variable(source: str = DATASOURCE_TYPE) -> Variable:
    """The ``datasource`` variable every LobbyWatch dashboard starts with."""
    return Variable(name="datasource", label="数据源 Data source", kind="datasource", source=source)


def site_variable(*, multi: bool = False) -> Variable:
    """Hall picker from the ``site`` tag of the ``site`` measurement."""
    return Variable(
        name="site",
        label="营业厅 Hall",
        query=f'SHOW TAG VALUES FROM "{Site.MEASUREMENT}" WITH KEY = "{Site.SITE}"',
        multi=multi,
        include_all=multi,
        all_value=".*" if multi else None,
    )


def zone_variable() -> Variable:
    """Zone picker (multi, with All) for the selected hall(s)."""
    return Variable(
        name="zone",
        label="区域 Zone",
        query=f'SHOW TAG VALUES FROM "{Zone.MEASUREMENT}" WITH KEY = "{Zone.ZONE}" WHERE {SITE_MATCHES}',
        multi=True,
        include_all=True,
        all_value=".*",
    )
