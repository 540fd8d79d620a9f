"""The committed dashboard JSON equals the generator's output; provisioning files agree with it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dashboards.builder import SOURCES, GridPos, Panel, Target
from dashboards.catalog import DEFAULT_OUT, all_dashboards, file_name, rendered
from dashboards.push import InfluxSource, datasource_model
from system.cli import app

ROOT = Path(__file__).resolve().parents[2]
PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"


def test_committed_json_equals_generator_output() -> None:
    for name, text in rendered().items():
        path = DEFAULT_OUT / name
        assert path.is_file(), f"{path} is missing: run lobbywatch dashboards generate --out dashboards/json"
        assert path.read_text(encoding="utf-8") == text, (
            f"{path} is stale: run lobbywatch dashboards generate --out dashboards/json"
        )
    assert sorted(p.name for p in DEFAULT_OUT.glob("*.json")) == sorted(rendered())


def test_generate_command_writes_and_checks(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["dashboards", "generate", "--out", str(tmp_path), "--check"])
    assert result.exit_code == 1
    assert "out of date" in result.output
    result = runner.invoke(app, ["dashboards", "generate", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(rendered())
    result = runner.invoke(app, ["dashboards", "generate", "--out", str(tmp_path), "--check"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("dashboard", all_dashboards(), ids=lambda d: d.uid)
def test_dashboard_shape(dashboard: object) -> None:
    from dashboards.builder import Dashboard

    assert isinstance(dashboard, Dashboard)
    model = json.loads(rendered()[file_name(dashboard)])
    assert model["uid"] == dashboard.uid
    assert len(model["uid"]) <= 40
    ids = [p["id"] for p in model["panels"]]
    assert len(ids) == len(set(ids))
    names = [v["name"] for v in model["templating"]["list"]]
    assert names[:2] == ["datasource", "site"]
    source = model["templating"]["list"][0]
    assert source["current"]["value"] == SOURCES[source["query"]][0]
    for panel in model["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24
        # readable from 3 m on a 1920x1080 TV: the wall fits one screen (about 28 rows)
        if dashboard.uid == "lobbywatch-hall-wall":
            assert pos["y"] + pos["h"] <= 28, panel["title"]
        # bilingual titles: Chinese and English
        assert any("\u4e00" <= ch <= "\u9fff" for ch in panel["title"]), panel["title"]
        assert any("a" <= ch.lower() <= "z" for ch in panel["title"]), panel["title"]
    for var in model["templating"]["list"]:
        assert any("\u4e00" <= ch <= "\u9fff" for ch in var["label"]), var["label"]


def test_hall_wall_is_a_tv_display() -> None:
    model = json.loads(rendered()["hall-wall.json"])
    assert model["refresh"] == "10s"
    assert model["style"] == "dark"
    stats = [p for p in model["panels"] if p["type"] == "stat"]
    assert all(p["options"]["text"]["valueSize"] >= 24 for p in stats)
    wait = next(p for p in model["panels"] if p["title"].endswith("10-minute line"))
    steps = wait["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert {"color": "red", "value": 600} in steps
    assert wait["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] != "off"
    kiosks = next(p for p in model["panels"] if p["title"].endswith("Kiosks working"))
    assert {"color": "green", "value": 2} in kiosks["fieldConfig"]["defaults"]["thresholds"]["steps"]
    devices = next(p for p in model["panels"] if p["title"].endswith("Devices"))
    texts = devices["fieldConfig"]["defaults"]["mappings"][0]["options"]
    assert {k: v["text"] for k, v in texts.items()} == {
        "0": "正常 Working",
        "1": "故障 Faulted",
        "2": "停用 Out of service",
        "3": "离线 Offline",
    }


def test_builder_rejects_bad_layout() -> None:
    with pytest.raises(ValueError, match="grid"):
        GridPos(20, 0, 6, 4)
    with pytest.raises(ValueError, match="no query"):
        Panel(title="x", kind="stat", grid=GridPos(0, 0, 4, 4), targets=[])
    from dashboards.builder import Dashboard

    a = Panel(title="a", kind="stat", grid=GridPos(0, 0, 6, 4), targets=[Target("SELECT 1")])
    b = Panel(title="b", kind="stat", grid=GridPos(4, 2, 6, 4), targets=[Target("SELECT 1")])
    with pytest.raises(ValueError, match="overlap"):
        Dashboard(uid="u", title="t", description="d", panels=[a, b], variables=[]).to_json()


def test_datasource_provisioning_matches_push() -> None:
    doc = yaml.safe_load((PROVISIONING / "datasources" / "lobbywatch.yaml").read_text())
    (ds,) = doc["datasources"]
    pushed = datasource_model(InfluxSource(password="x"))
    for key in ("uid", "name", "type", "access"):
        assert ds[key] == pushed[key], key
    assert ds["jsonData"]["version"] == "InfluxQL"
    assert ds["jsonData"]["httpMode"] == pushed["jsonData"]["httpMode"]
    assert ds["jsonData"]["timeInterval"] == pushed["jsonData"]["timeInterval"]
    assert ds["url"] == "$INFLUX_URL"
    assert ds["secureJsonData"] == {"password": "$INFLUX_PASSWORD"}


def test_dashboard_provider_points_at_the_dashboards() -> None:
    doc = yaml.safe_load((PROVISIONING / "dashboards" / "lobbywatch.yaml").read_text())
    (provider,) = doc["providers"]
    assert provider["type"] == "file"
    assert provider["folderUid"] == "lobbywatch"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/lobbywatch"
    assert "dashboards/json" in (PROVISIONING / "dashboards" / "lobbywatch.yaml").read_text()


def test_vendor_table_maps_only_the_state_column() -> None:
    model = json.loads(rendered()["vendor-uptime.json"])
    table = next(p for p in model["panels"] if p["title"].endswith("Per device"))
    assert table["fieldConfig"]["defaults"]["mappings"] == []
    mapped = [
        o["matcher"]["options"]
        for o in table["fieldConfig"]["overrides"]
        if any(prop["id"] == "mappings" for prop in o["properties"])
    ]
    assert mapped == ["state_code"]
    calc = next(t for t in table["transformations"] if t["id"] == "calculateField")
    assert calc["options"]["binary"] == {"left": "fault_s", "operator": "/", "right": "faults_raised"}
