"""The fleet as an operator watches it: a real Prometheus scrapes the central server, a gateway,
a device agent and a vision daemon running a video file (each its own ``lobbywatch`` process),
and every panel query of the operations dashboard returns data, as Grafana would ask it.

A fault raised on the agent's local API goes device -> broker -> gateway -> server -> alert ->
notification, so the notification and alert latency panels have something to show.
"""

from __future__ import annotations

import json
import math
import secrets
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml

from dashboards.operations import operations
from edge.vision.detector import DEFAULT_MODEL
from lobbywatch.services import Influxd, Mosquitto, free_port, wait_until
from system.supervisor import Supervisor
from tests.helpers_prometheus import SCRAPE_INTERVAL, Prometheus

pytestmark = pytest.mark.real

START_S = 90.0  # a program answering /metrics (the server migrates, the daemon loads its model)
DATA_S = 60.0  # every panel query answering, once all four are scraped
RATE_WINDOW = "30s"  # $__rate_interval: Grafana's is at least 4 scrape intervals


def _write_video(path: Path, frames: int = 10) -> Path:
    """A short grey video with a moving block: something for the daemon to read in a loop."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (320, 240))
    assert writer.isOpened()
    for i in range(frames):
        frame = np.full((240, 320, 3), 128, np.uint8)
        cv2.rectangle(frame, (20 + 20 * i, 60), (60 + 20 * i, 200), (40, 40, 40), -1)
        writer.write(frame)
    writer.release()
    return path


def _hall(tmp: Path, site: str, broker: Mosquitto, server_url: str, token_file: Path) -> dict[str, Any]:
    """One hall: a camera on the video, a kiosk, a gateway, alerts to the hall displays (MQTT)."""
    onnx = DEFAULT_MODEL.with_suffix(".onnx")
    assert onnx.is_file(), f"{onnx} is missing: run scripts/setup.sh (it exports the model)"
    every_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    return {
        "site": site,
        "name": {"en": "Operations test hall", "zh-CN": "运维测试厅"},
        "opening_hours": [{"days": every_day, "open": "00:00", "close": "23:59"}],
        "broker": {"host": broker.host, "port": broker.port},
        "zones": [{"id": "queue-a", "kind": "queue"}, {"id": "kiosks", "kind": "self_service"}],
        "cameras": [
            {
                "id": "cam-1",
                "source": str(_write_video(tmp / "lobby.avi")),
                "loop": True,
                "model": str(onnx),
                "counting": {"imgsz": 320, "slicing": {"mode": "off"}},
                "zones": [{"zone": "queue-a", "polygon": [[0, 0], [320, 0], [320, 240], [0, 240]]}],
            }
        ],
        "devices": [
            {"id": "kiosk-1", "kind": "top_up_kiosk", "vendor": "acme", "model": "K1", "zone": "kiosks"}
        ],
        "gateway": {
            "id": "gw1",
            "server_url": server_url,
            "token_file": str(token_file),
            "outbox": str(tmp / "gateway-outbox.sqlite3"),
            "health_port": free_port(),
        },
        "notifications": {
            "channels": [{"name": "hall-displays", "type": "mqtt"}],
            "routes": [{"channels": ["hall-displays"]}],
        },
    }


def _write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _scraped(prometheus: Prometheus, job: str) -> bool:
    return any(s["value"][1] == "1" for s in prometheus.query(f'up{{job="{job}"}}'))


def _down(prometheus: Prometheus) -> list[str]:
    return [f"{s['metric']['job']} {s['metric']['instance']}" for s in prometheus.query("up == 0")]


def _finite(result: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(s["value"][1])) for s in result)


def _fault(agent_port: int, *, clear: bool) -> None:
    """Raise (or clear) a paper-out fault through the agent's local API."""
    body = json.dumps({"code": "PRN_PAPER_OUT", "clear": clear}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{agent_port}/v1/fault", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert json.loads(answer.read())["active"] is not clear


@pytest.fixture
def children(tmp_path: Path) -> Iterator[Supervisor]:
    supervisor = Supervisor(tmp_path / "logs")
    yield supervisor
    supervisor.stop_all()


def test_prometheus_scrapes_every_program_and_every_operations_panel_has_data(
    tmp_path: Path,
    mosquitto: Mosquitto,
    influxd: Influxd,
    influx_db: str,
    prometheus: Prometheus,
    children: Supervisor,
    site_id: str,
) -> None:
    token_file = tmp_path / "gateway.token"
    token_file.write_text(secrets.token_urlsafe(24) + "\n", encoding="utf-8")
    port = free_port()
    hall = _hall(tmp_path, site_id, mosquitto, f"http://127.0.0.1:{port}", token_file)
    hall_yaml = _write_yaml(tmp_path / "hall.yaml", hall)
    server_yaml = _write_yaml(
        tmp_path / "server.yaml",
        {
            "config_version": 1,
            "listen": {"host": "127.0.0.1", "port": port},
            "sql_url": f"sqlite:///{tmp_path / 'server.sqlite3'}",
            "influx": {"url": influxd.url, "database": influx_db},
            "halls": [str(hall_yaml)],
            "bootstrap_tokens": [
                {"name": "gateway", "role": "gateway", "token_file": str(token_file), "sites": [site_id]}
            ],
        },
    )
    agent_port, vision_port = free_port(), free_port()
    yolo = {"YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "0", "YOLO_CONFIG_DIR": str(tmp_path / "yolo")}
    config = ["--config", str(hall_yaml)]
    vision = ["edge", "vision", *config, "--camera", "cam-1", "--metrics-port", str(vision_port)]
    device = ["edge", "device", *config, "--device", "kiosk-1", "--http-port", str(agent_port)]
    device += ["--state-dir", str(tmp_path / "kiosk-1"), "--heartbeat-s", "1"]
    children.lobbywatch("server", "server", "run", "--config", str(server_yaml))
    children.lobbywatch("vision", *vision, env=yolo)
    children.lobbywatch("gateway", "gateway", "run", *config)
    children.lobbywatch("device", *device)
    ports = {
        "lobbywatch-server": port,
        "lobbywatch-gateway": hall["gateway"]["health_port"],
        "lobbywatch-device": agent_port,
        "lobbywatch-vision": vision_port,
    }
    for job, job_port in ports.items():
        prometheus.scrape(job, f"127.0.0.1:{job_port}")

    def logs() -> str:
        return "\n".join(f"--- {c.name}\n{children.log_tail(c)}" for c in children.children)

    def all_scraped() -> bool:
        if children.dead():
            return True  # reported below, with the logs
        return all(_scraped(prometheus, job) for job in ports)

    assert wait_until(all_scraped, START_S, 0.5), f"not scraped: {_down(prometheus)}\n{logs()}"
    assert not children.dead(), f"{[c.name for c in children.dead()]} died\n{logs()}"

    processed = 'lobbywatch_vision_frames_total{outcome="processed"} > 0'
    assert wait_until(lambda: bool(prometheus.query(processed)), START_S, 0.5), f"no frame\n{logs()}"

    # A kiosk fault raised, then cleared: an alert, and two notifications to the hall displays.
    # The second one lands after Prometheus has seen the delivery series (a labelled series is
    # born at its first observation), so rates over it show the delivery. The clear waits for
    # the fault's own alert (other alerts, such as the camera's at start-up, may have made the
    # series already): raised and cleared in one batch, a fault raises nothing.
    _fault(agent_port, clear=False)
    fault_open = 'lobbywatch_server_alerts_open{kind="device_fault"} > 0'
    assert wait_until(lambda: bool(prometheus.query(fault_open)), DATA_S, 0.5), f"no fault alert\n{logs()}"
    attempts = "lobbywatch_server_notification_attempts_total"
    assert wait_until(lambda: bool(prometheus.query(attempts)), DATA_S, 0.5), f"no notification\n{logs()}"
    _fault(agent_port, clear=True)

    model = operations().to_json()
    queries = {
        f"{panel['title']} / {target['refId']}": target["expr"]
        .replace("$__rate_interval", RATE_WINDOW)
        .replace("$site", ".*")  # the site variable's All
        for panel in model["panels"]
        for target in panel["targets"]
    }
    missing = dict(queries)

    def answered() -> bool:
        for where, promql in list(missing.items()):
            if _finite(prometheus.query(promql)):
                del missing[where]
        return not missing

    assert wait_until(answered, DATA_S, 0.5), (
        f"no data (scrape every {SCRAPE_INTERVAL}) for:\n"
        + "\n".join(f"  {w}: {q}" for w, q in missing.items())
        + f"\n{logs()}"
    )
    site_variable = next(v for v in model["templating"]["list"] if v["name"] == "site")
    match = site_variable["query"].removeprefix("label_values(").rsplit(",", 1)[0]
    assert site_id in {s["site"] for s in prometheus.series(match)}
