"""A message dated where no clock can be is rejected on its own, with reason ``clock``: the
rest of its batch is stored and the hall's series keep being written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from lobbywatch.protocol.codec import to_dict
from server.core.config import IngestConfig
from server.storage.models import InfluxSpool

from .conftest import Server
from .test_ingest import zone


@pytest.mark.parametrize(
    ("when", "why"),
    [
        (datetime(9999, 12, 31, tzinfo=UTC), "ahead of the receiver"),
        (datetime(2300, 1, 1, tzinfo=UTC), "ahead of the receiver"),  # past InfluxDB's 2262
        (None, "days old"),
    ],
)
def test_a_message_from_a_wrong_clock_is_rejected_alone(
    server: Server, when: datetime | None, why: str
) -> None:
    good, bad, later = zone(server), zone(server), zone(server)
    dated = when or server.clock.now() - timedelta(days=IngestConfig().dedup_retention_days + 1)
    wrong = {**to_dict(bad), "ts": dated.isoformat()}
    answer = server.send([good, wrong, later]).json()
    assert [r["status"] for r in answer["results"]] == ["accepted", "rejected", "accepted"]
    assert answer["results"][1]["reason"].startswith("clock: ")
    assert why in answer["results"][1]["reason"]
    server.clock.advance(5)
    assert server.send([zone(server)]).json()["accepted"] == 1
    with server.ctx.db.session() as session:
        spooled = "\n".join(session.scalars(select(InfluxSpool.body)))
    site_lines = [line for line in spooled.splitlines() if line.startswith("site,")]
    stamps = [int(line.rsplit(" ", 1)[1]) / 1e9 for line in site_lines]
    assert len(stamps) == 2, "the hall's site series goes on after the bad message"
    assert max(stamps) == pytest.approx(server.clock.now().timestamp(), abs=1)
