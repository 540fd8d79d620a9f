"""The edge install profile: a fresh venv with ``lobbywatch[edge]`` has ONNX Runtime and neither
torch, ultralytics nor NCNN (``edge-ncnn`` is the NCNN profile), and its vision daemon runs a
short video through the ONNX Runtime backend, publishing the right zone states to a real
broker. Slow: the pip install takes about a minute here (docs/benchmarks.md).

The ONNX export and the video are made with this (development) environment; the edge venv
only runs them. The video is ultralytics' bus.jpg, as in test_e2e.py: two people in the queue
zone, one in the waiting zone.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bench.edge_footprint import (
    daemon_command,
    edge_env,
    hall_config,
    imports_fail,
    install_edge_venv,
    write_hall,
    write_video,
)
from lobbywatch.protocol.codec import decode
from lobbywatch.protocol.messages import ZoneState
from lobbywatch.protocol.topics import zone_state_topic
from lobbywatch.services import Mosquitto

pytestmark = [pytest.mark.slow, pytest.mark.real]


def test_edge_venv_has_no_torch_and_its_daemon_publishes_zone_states(
    tmp_path: Path,
    onnx_model: Path,
    site_id: str,
    mosquitto: Mosquitto,
    mqtt_probe: Any,
) -> None:
    pytest.importorskip("cv2")
    model = onnx_model
    venv = tmp_path / "edge-venv"
    install_edge_venv(venv)
    assert imports_fail(venv, "torch")
    assert imports_fail(venv, "ultralytics")
    assert imports_fail(venv, "ncnn")  # one runtime per profile: NCNN is lobbywatch[edge-ncnn]
    assert not imports_fail(venv, "onnxruntime")

    video = tmp_path / "bus.avi"
    write_video(video, 6)
    config = write_hall(tmp_path / "hall.yaml", hall_config(site_id, video, model, loop=True))
    want = {"queue-bus": 2, "waiting-bus": 1}
    topics = {zone: zone_state_topic(site_id, "cam-bus", zone) for zone in want}
    live = mqtt_probe(*topics.values())
    log = tmp_path / "daemon.log"
    with log.open("w") as out:
        daemon = subprocess.Popen(
            daemon_command(venv, config, mosquitto.url), stdout=out, stderr=subprocess.STDOUT, env=edge_env()
        )
    try:
        for zone, n in want.items():
            while True:  # live states on the zone's topic until the count is reached
                msg = live.get(timeout=120, topic=topics[zone])
                state = decode(msg.payload, msg.topic)
                assert isinstance(state, ZoneState)
                if state.count == n:
                    break
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(60) == 0, log.read_text()
    assert "detector: onnxruntime backend" in log.read_text()
