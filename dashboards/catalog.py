"""All LobbyWatch dashboards (InfluxDB ones, and the operations one on Prometheus), and writing
them as the JSON files Grafana provisions."""

from __future__ import annotations

import json
from pathlib import Path

from dashboards.builder import Dashboard, Json
from dashboards.hall import hall_wall
from dashboards.operations import operations
from dashboards.regional import regional_overview
from dashboards.vendor import vendor_uptime

DEFAULT_OUT = Path(__file__).resolve().parent / "json"
"""Where the committed JSON lives (``dashboards/json``)."""


def all_dashboards() -> list[Dashboard]:
    """Every dashboard, in a stable order."""
    return [hall_wall(), regional_overview(), vendor_uptime(), operations()]


def file_name(dashboard: Dashboard) -> str:
    """``lobbywatch-hall-wall`` -> ``hall-wall.json``."""
    return dashboard.uid.removeprefix("lobbywatch-") + ".json"


def render(model: Json) -> str:
    """The committed text of one dashboard: sorted keys, 2-space indent, UTF-8, final newline."""
    return json.dumps(model, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def rendered() -> dict[str, str]:
    """File name -> JSON text, for every dashboard."""
    return {file_name(d): render(d.to_json()) for d in all_dashboards()}


def write_all(out: Path) -> list[Path]:
    """Write every dashboard into ``out``; return the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in rendered().items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def stale_files(out: Path) -> list[str]:
    """Names of files in ``out`` that differ from the generator's output (or are missing)."""
    stale = []
    for name, text in rendered().items():
        path = out / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
    return stale
