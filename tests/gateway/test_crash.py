"""The gateway as its own process, killed with SIGKILL in the middle of a stream."""

from __future__ import annotations

import signal
from pathlib import Path

from lobbywatch.services import Mosquitto, free_port, wait_until
from tests.gateway.helpers_gateway import healthz, start_gateway_process, write_hall_config
from tests.gateway.helpers_ingest import IngestReceiver
from tests.gateway.helpers_streams import (
    Publisher,
    assert_exactly_once_in_order,
    device_stream,
    wait_published,
)

ROOT = Path(__file__).resolve().parents[2]


def test_sigkill_mid_stream_then_restart_delivers_everything_once(
    tmp_path: Path, mosquitto: Mosquitto, receiver: IngestReceiver, site_id: str
) -> None:
    health_port = free_port()
    config = write_hall_config(
        tmp_path / "hall.yaml",
        site_id,
        mosquitto,
        receiver,
        outbox=tmp_path / "outbox.sqlite3",
        health_port=health_port,
    )
    log = tmp_path / "gateway.log"
    sent = device_stream(site_id, 10_000)
    proc = start_gateway_process(config, log, health_port)
    try:
        pub = Publisher(mosquitto.host, mosquitto.port)
        infos = pub.publish(sent)
        assert wait_until(lambda: receiver.stored_count() >= 2500, 30), receiver.stored_count()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        killed_at = receiver.stored_count()
        assert killed_at < len(sent), "the stream ended before the kill; nothing was tested"
        proc = start_gateway_process(config, log, health_port)
        wait_published(infos)
        assert wait_until(lambda: receiver.stored_count() == len(sent), 60), receiver.stored_count()
        assert wait_until(lambda: healthz(health_port)["backlog"]["count"] == 0, 10)  # type: ignore[index]
        pub.close()
    finally:
        proc.terminate()
        proc.wait(20)
    assert proc.returncode == 0, log.read_text()[-3000:]
    assert_exactly_once_in_order(receiver.stored(), sent)
