"""Ingest with helper processes (``ingest.prepare_workers``): same answers, survives a dead helper."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from lobbywatch.protocol.messages import WaitRecord
from lobbywatch.services import wait_until
from server.core.config import IngestConfig
from server.ingest_workers import PrepareWorkers
from server.storage.models import InfluxSpool
from tests.server.conftest import Server
from tests.server.test_ingest import zone

pytestmark = pytest.mark.real


@pytest.fixture
def pooled(make_server: Callable[..., Server]) -> Server:
    return make_server(ingest=IngestConfig(prepare_workers=1))


def test_helpers_answer_like_the_server_process(pooled: Server) -> None:
    assert len(pooled.ctx.prepare.pids()) == 1
    first, second = zone(pooled), zone(pooled, occupancy=5.0, count=5)
    bad = {**first.model_dump(mode="json"), "id": "bad-1", "seq": 99, "occupancy": -1}
    r = pooled.send([first, second, bad]).json()
    assert [x["status"] for x in r["results"]] == ["accepted", "accepted", "rejected"]
    assert "occupancy" in r["results"][2]["reason"]
    assert r["results"][2]["id"] == "bad-1"
    assert (r["accepted"], r["duplicates"], r["rejected"]) == (2, 0, 1)
    again = pooled.send([first, second]).json()
    assert [x["status"] for x in again["results"]] == ["duplicate", "duplicate"]
    live = pooled.get(f"/api/v1/sites/{pooled.site}/live").json()
    assert any(z["zone"] == "queue-main" and z["occupancy"] == 5.0 for z in live["zones"])


def test_helpers_build_the_lines_with_the_halls_wait_limit(pooled: Server) -> None:
    limit_s = pooled.ctx.registry.wait_limit_s(pooled.site)
    now = pooled.clock.now()
    waits = [
        pooled.make(
            WaitRecord,
            "cam-counters",
            zone="queue-main",
            kind="wait",
            zone_kind="queue",
            started=now - timedelta(seconds=duration),
            ended=now,
            duration_s=duration,
            outcome="exited",
        )
        for duration in (limit_s - 1, limit_s + 1)
    ]
    assert pooled.send(waits).json()["accepted"] == 2
    with pooled.ctx.db.session() as session:
        spool = "\n".join(session.scalars(select(InfluxSpool.body)))
    assert "within_limit=1i" in spool
    assert "within_limit=0i" in spool


def test_a_dead_helper_costs_one_503_and_nothing_is_lost(pooled: Server) -> None:
    workers = pooled.ctx.prepare
    (pid,) = workers.pids()
    os.kill(pid, signal.SIGKILL)
    msg = zone(pooled)
    # Whether the pool notices the death before or while this batch is submitted, the
    # gateway is told to resend, and the resend runs on a new helper.
    first = pooled.send([msg])
    assert first.status_code == 503
    assert "resend" in first.json()["message"]
    assert first.headers["Retry-After"]
    assert pooled.send([msg]).json()["accepted"] == 1
    assert workers.restarts == 1
    assert workers.pids()
    assert pid not in workers.pids()
    assert pooled.send([msg]).json()["duplicates"] == 1


def test_stopping_the_server_stops_the_helpers(pooled: Server) -> None:
    pids = pooled.ctx.prepare.pids()
    pooled.stop()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_helpers_that_cannot_start_leave_ingest_in_the_server_process(
    make_server: Callable[..., Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_pool(_self: PrepareWorkers) -> None:
        raise OSError("no fork server here")

    monkeypatch.setattr(PrepareWorkers, "_new_pool", no_pool)
    server = make_server(ingest=IngestConfig(prepare_workers=2))
    assert server.ctx.prepare.n == 0
    assert server.send([zone(server)]).json()["accepted"] == 1
    status = server.get("/api/v1/admin/status").json()["ingest"]
    assert status["prepare_workers"] == 0


HELPER_OWNER = """
import os, sys
from server.ingest_workers import PrepareWorkers
if __name__ == "__main__":
    workers = PrepareWorkers(1)
    workers.start({})
    print(*workers.pids(), flush=True)
    os._exit(0)  # no shutdown: as if killed
"""


def test_helpers_end_when_the_server_process_dies_without_stopping_them(tmp_path: Path) -> None:
    script = tmp_path / "owner.py"
    script.write_text(HELPER_OWNER, encoding="utf-8")
    # The helpers inherit the owner's stdout: read the one line, never wait for its end.
    owner = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert owner.stdout is not None
    line = owner.stdout.readline()
    assert owner.wait(60) == 0
    pids = [int(p) for p in line.split()]
    assert pids

    def gone() -> bool:
        for pid in pids:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            return False
        return True

    assert wait_until(gone, 15)
    owner.stdout.close()
