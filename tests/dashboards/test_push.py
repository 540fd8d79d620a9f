"""``lobbywatch dashboards push`` against a local HTTP receiver that records the Grafana API calls."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from dashboards.builder import DATASOURCE_UID
from dashboards.catalog import all_dashboards
from dashboards.push import InfluxSource, PushError, connect, folder_uid, push
from system.cli import app
from tests.dashboards.helpers_grafana import FakeGrafana

UIDS = {d.uid for d in all_dashboards()}


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    with FakeGrafana() as g:
        yield g


def _push_cli(grafana: FakeGrafana, *extra: str) -> str:
    result = CliRunner().invoke(
        app,
        [
            "dashboards",
            "push",
            "--url",
            grafana.url,
            "--token",
            grafana.state.token,
            "--influx-url",
            "http://influxdb:8086",
            "--influx-user",
            "grafana",
            "--influx-password",
            "s3cret",
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_first_push_creates_folder_datasource_and_dashboards(grafana: FakeGrafana) -> None:
    out = _push_cli(grafana, "--folder", "LobbyWatch Halls")
    state = grafana.state
    assert set(state.folders) == {"lobbywatch-halls"}
    assert state.folders["lobbywatch-halls"]["title"] == "LobbyWatch Halls"
    ds = state.datasources[DATASOURCE_UID]
    assert ds["type"] == "influxdb"
    assert ds["url"] == "http://influxdb:8086"
    assert ds["jsonData"]["version"] == "InfluxQL"
    assert ds["jsonData"]["dbName"] == "lobbywatch"
    assert ds["secureJsonFields"] == {"password": True}
    assert set(state.dashboards) == UIDS
    for stored in state.dashboards.values():
        assert stored["meta"]["folderUid"] == "lobbywatch-halls"
    assert all(c.authorization == f"Bearer {state.token}" for c in state.calls)
    writes = [(c.method, c.path) for c in state.writes()]
    assert writes.count(("POST", "/api/dashboards/db")) == len(UIDS)
    assert ("POST", "/api/folders") in writes
    assert ("POST", "/api/datasources") in writes
    assert f"writes: {2 + len(UIDS)}" in out  # the folder, the data source, each dashboard


def test_second_push_changes_nothing(grafana: FakeGrafana) -> None:
    _push_cli(grafana)
    before = len(grafana.state.calls)
    out = _push_cli(grafana)
    second = grafana.state.calls[before:]
    assert second, "the second push made no calls at all"
    assert all(c.method == "GET" for c in second), [(c.method, c.path) for c in second]
    assert "writes: 0" in out
    assert all(v["dashboard"]["version"] == 1 for v in grafana.state.dashboards.values())


def test_push_repairs_drift(grafana: FakeGrafana) -> None:
    api = connect(grafana.url, grafana.state.token)
    dashboards = [d.to_json() for d in all_dashboards()]
    source = InfluxSource(url="http://influxdb:8086")
    push(api, dashboards, source=source)
    # someone edits a dashboard in the UI, and moves the data source
    grafana.state.dashboards["lobbywatch-hall-wall"]["dashboard"]["title"] = "edited"
    grafana.state.datasources[DATASOURCE_UID]["url"] = "http://elsewhere:8086"
    before = len(grafana.state.calls)
    report = push(api, dashboards, source=source)
    writes = [(c.method, c.path) for c in grafana.state.calls[before:] if c.method != "GET"]
    assert sorted(writes) == [
        ("POST", "/api/dashboards/db"),
        ("PUT", f"/api/datasources/uid/{DATASOURCE_UID}"),
    ]
    assert report.writes == 2
    assert grafana.state.dashboards["lobbywatch-hall-wall"]["dashboard"]["title"] != "edited"
    assert grafana.state.dashboards["lobbywatch-hall-wall"]["dashboard"]["version"] == 2
    assert grafana.state.datasources[DATASOURCE_UID]["url"] == "http://influxdb:8086"
    # a third push is quiet again
    assert push(api, dashboards, source=source).writes == 0


def test_skip_datasource_leaves_it_alone(grafana: FakeGrafana) -> None:
    _push_cli(grafana, "--skip-datasource")
    assert grafana.state.datasources == {}
    assert not any("/api/datasources" in c.path for c in grafana.state.calls)
    assert set(grafana.state.dashboards) == UIDS


def test_bad_token_is_a_clear_error(grafana: FakeGrafana) -> None:
    api = connect(grafana.url, "wrong")
    with pytest.raises(PushError, match="token"):
        push(api, [d.to_json() for d in all_dashboards()], source=InfluxSource())
    result = CliRunner().invoke(app, ["dashboards", "push", "--url", grafana.url, "--token", "wrong"])
    assert result.exit_code == 1
    assert "token" in result.output


def test_bad_influx_url_is_rejected_before_any_call(grafana: FakeGrafana) -> None:
    result = CliRunner().invoke(
        app,
        ["dashboards", "push", "--url", grafana.url, "--token", "t", "--influx-url", "influxdb:8086"],
    )
    assert result.exit_code == 2
    assert "url" in result.output
    assert grafana.state.calls == []


def test_unreachable_grafana() -> None:
    from lobbywatch.services import free_port

    api = connect(f"http://127.0.0.1:{free_port()}", "t", timeout_s=2)
    with pytest.raises(PushError, match="Grafana"):
        push(api, [], source=None)


def test_folder_uid() -> None:
    assert folder_uid("LobbyWatch") == "lobbywatch"
    assert folder_uid("East Region / Halls") == "east-region-halls"
    assert folder_uid("营业厅").startswith("f-")
