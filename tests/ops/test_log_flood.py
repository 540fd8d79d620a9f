"""A flood of 5,000 bad payloads posted to the server's ingest writes (almost) nothing to the
log: each one is answered ``rejected`` with its reason to the gateway (which quarantines it)
and counted in ``/metrics``. The gateway's side of the same flood, through a real broker, is
tests/gateway/test_receipts.py (``test_a_flood_of_bad_payloads_logs_a_few_lines``)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from lobbywatch.clock import FixedClock
from tests.helpers_metrics import samples, value
from tests.server.alerts.helpers_hall import hall_dict
from tests.server.alerts.helpers_server import served

FLOOD = 5000
BATCH = 500


@pytest.mark.real
def test_a_flood_of_bad_payloads_at_ingest_is_counted_not_logged(
    tmp_path: Path, clock: FixedClock, site_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    with served(tmp_path, clock, hall_dict(site_id)) as s:
        caplog.set_level(logging.INFO)
        caplog.clear()
        rejected = 0
        for start in range(0, FLOOD, BATCH):
            body = {
                "gateway": "gw-1",
                "site": site_id,
                "sent_at": clock.now().isoformat(),
                "backlog": {"count": BATCH, "bytes": 300, "oldest_age_s": 0.1},
                "messages": [{"type": "device_event", "junk": i} for i in range(start, start + BATCH)],
            }
            answer = s.client.post(
                "/api/v1/ingest",
                content=json.dumps(body),
                headers={**s.auth("gateway"), "Content-Type": "application/json"},
            )
            assert answer.status_code == 200, answer.text
            rejected += answer.json()["rejected"]
            clock.advance(1.5)  # the flood lasts a quarter of an hour on the server's clock
        said = [r for r in caplog.records if r.levelno >= logging.WARNING]
        text = s.client.get("/metrics").text
    assert rejected == FLOOD
    assert value(samples(text), "lobbywatch_server_ingest_messages_total", outcome="rejected") == FLOOD
    assert len(said) <= 3, [r.getMessage() for r in said]
