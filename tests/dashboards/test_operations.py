"""The operations dashboard: PromQL on the provisioned Prometheus data source, every query
filtered by the picked halls where its series carry a hall, bilingual panels. Its queries
run against a real Prometheus in tests/ops/test_fleet_metrics.py."""

from __future__ import annotations

from pathlib import Path

import yaml

from dashboards.builder import PROMETHEUS_NAME, PROMETHEUS_TYPE, PROMETHEUS_UID
from dashboards.operations import operations

PROVISIONING = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "provisioning"
#: The panels the issue asks for (English part of the title).
WANTED = (
    "Ingest rate",
    "Ingest latency (p50 / p95)",
    "Gateways by backlog",
    "Gateways by age of oldest message",
    "Halls by data delay",
    "Cameras by fps",
    "Detector passes per frame",
    "Camera stream state",
    "Notification failures by channel",
    "Alert latency (p95)",
)


def test_every_panel_queries_prometheus_in_promql() -> None:
    model = operations().to_json()
    ref = {"type": PROMETHEUS_TYPE, "uid": "${datasource}"}
    assert [p["title"].split(" ", 1)[1] for p in model["panels"]] == list(WANTED)
    for panel in model["panels"]:
        assert panel["datasource"] == ref
        for target in panel["targets"]:
            assert target["datasource"] == ref
            assert not {"query", "rawQuery"} & set(target)
            expr = target["expr"]
            assert expr.count("(") == expr.count(")"), expr
            if any(m in expr for m in ("gateway_backlog", "hall_data_delay", "vision_")):
                assert 'site=~"$site"' in expr, (panel["title"], expr)
            if "rate(" in expr or "increase(" in expr:
                assert "[$__rate_interval]" in expr, expr
    variables = {v["name"]: v for v in model["templating"]["list"]}
    assert variables["datasource"]["query"] == PROMETHEUS_TYPE
    assert variables["datasource"]["current"]["value"] == PROMETHEUS_UID
    assert variables["site"]["datasource"] == ref
    assert variables["site"]["query"].startswith("label_values(")


def test_prometheus_data_source_is_provisioned_with_the_dashboards_uid() -> None:
    doc = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yaml").read_text(encoding="utf-8"))
    (source,) = doc["datasources"]
    wanted = (PROMETHEUS_UID, PROMETHEUS_NAME, PROMETHEUS_TYPE)
    assert (source["uid"], source["name"], source["type"]) == wanted
    assert source["access"] == "proxy"
