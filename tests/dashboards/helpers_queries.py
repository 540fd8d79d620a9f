"""Run every query of a generated dashboard against a real influxd, as Grafana would send it."""

from __future__ import annotations

import json
import urllib.error
from dataclasses import dataclass, field
from typing import Any

from dashboards.macros import QueryContext, duration_s, panel_range, render
from lobbywatch.services import Influxd
from tests.dashboards.helpers_seed import DAY_START, NOW

Json = dict[str, Any]
MIN_INTERVAL_MS = 10_000  # the data source's timeInterval
MAX_DATA_POINTS = 1000  # about one per pixel of a panel on a 1920-wide screen


@dataclass
class Series:
    name: str
    tags: dict[str, str]
    columns: list[str]
    values: list[list[Any]]

    def column(self, name: str) -> list[Any]:
        i = self.columns.index(name)
        return [row[i] for row in self.values]

    def last(self) -> Any:
        """Last non-null value of the first value column."""
        vals = [v for v in self.column(self.columns[1]) if v is not None]
        return vals[-1] if vals else None


@dataclass
class Ran:
    """One query as sent, and the series it returned."""

    where: str
    query: str
    series: list[Series] = field(default_factory=list)

    def by_tag(self, tag: str) -> dict[str, Any]:
        return {s.tags[tag]: s.last() for s in self.series}


def execute(influxd: Influxd, db: str, where: str, query: str) -> Ran:
    """Run one rendered query; fail with the query and InfluxDB's error when it is broken."""
    try:
        result = influxd.query(query, db)
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"{where}: InfluxDB rejected\n  {query}\n  {exc.read().decode()}") from None
    statements = result.get("results")
    assert isinstance(statements, list), f"{where}: no results for {query}"
    assert statements, f"{where}: no results for {query}"
    first = statements[0]
    assert "error" not in first, f"{where}: {first['error']}\n  {query}"
    ran = Ran(where, query)
    for s in first.get("series", []):
        ran.series.append(Series(s["name"], s.get("tags", {}), s["columns"], s["values"]))
    return ran


def interval_ms(start_end_ms: int, panel_interval: str | None) -> int:
    floor_ms = max(MIN_INTERVAL_MS, duration_s(panel_interval) * 1000 if panel_interval else 0)
    by_width = (start_end_ms // MAX_DATA_POINTS) // 1000 * 1000
    return max(floor_ms, by_width)


def run_dashboard(
    influxd: Influxd,
    db: str,
    model: Json,
    variables: dict[str, list[str]],
    all_values: dict[str, str] | None = None,
) -> dict[str, list[Ran]]:
    """Every panel's, variable's and annotation's queries, run; keyed by panel title / name."""
    out: dict[str, list[Ran]] = {}
    unescaped = frozenset(
        v["name"] for v in model["templating"]["list"] if not v.get("multi") and not v.get("includeAll")
    )
    dash_from = model["time"]["from"]
    for panel in model["panels"]:
        start, end = panel_range(
            NOW,
            dash_from,
            time_from=panel.get("timeFrom"),
            time_shift=panel.get("timeShift"),
            day_start=DAY_START,
        )
        span_ms = int((end - start).total_seconds() * 1000)
        ctx = QueryContext(
            start, end, interval_ms(span_ms, panel.get("interval")), variables, all_values or {}, unescaped
        )
        out[panel["title"]] = [
            execute(influxd, db, f"{model['uid']} / {panel['title']} / {t['refId']}", render(t["query"], ctx))
            for t in panel["targets"]
        ]
    start, end = panel_range(NOW, dash_from)
    ctx = QueryContext(start, end, MIN_INTERVAL_MS, variables, all_values or {}, unescaped)
    for var in model["templating"]["list"]:
        if var["type"] == "query":
            name = f"var:{var['name']}"
            out[name] = [execute(influxd, db, f"{model['uid']} / {name}", render(var["query"], ctx))]
    for ann in model["annotations"]["list"]:
        if "query" in ann:
            name = f"annotation:{ann['name']}"
            out[name] = [execute(influxd, db, f"{model['uid']} / {name}", render(ann["query"], ctx))]
    return out


def dump(ran: dict[str, list[Ran]]) -> str:
    """Readable dump for assertion messages."""
    return json.dumps(
        {k: [[(s.tags, s.values[-3:]) for s in r.series] for r in v] for k, v in ran.items()},
        default=str,
        ensure_ascii=False,
    )[:4000]
