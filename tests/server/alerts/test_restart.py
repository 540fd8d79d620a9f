"""Nothing lost on restart: a real ``lobbywatch server run`` process killed (SIGKILL) with a
run-time silence, an escalation not yet due and a notification pending (its receiver down)
comes back with all three, and sends nothing twice (recording receivers count)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import yaml

from lobbywatch.clock import SharedTimelineClock, timeline_env
from lobbywatch.protocol.codec import to_dict
from lobbywatch.protocol.messages import DeviceEvent
from lobbywatch.protocol.sequence import Stamper
from lobbywatch.services import free_port, wait_until

from .helpers_hall import hall_dict
from .helpers_receivers import HttpReceiver, start_http

pytestmark = pytest.mark.real

SPEED = 60.0  # one real second is a simulated minute
START = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)  # Monday 09:30 in the hall
ESCALATE_MIN = 20
TOKENS = {"admin": "lw_admin-restart-test", "gateway": "lw_gw-restart-test"}


class Hall:
    """The files of one server and hall, and a way to start the server on them."""

    def __init__(self, tmp: Path, site: str, receiver: str) -> None:
        self.tmp, self.site, self.port = tmp, site, free_port()
        cfg = hall_dict(
            site,
            notifications={
                "channels": [
                    {"name": name, "type": "webhook", "url": f"{receiver}/{name}"}
                    for name in ("hook", "ok", "esc")
                ],
                "routes": [{"kinds": ["device_fault"], "channels": ["hook", "ok"]}],
                "escalation": [{"after_min": ESCALATE_MIN, "audience": "manager", "channels": ["esc"]}],
            },
        )
        (tmp / "hall.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
        for name, value in TOKENS.items():
            (tmp / f"{name}.token").write_text(value + "\n")
        (tmp / "server.yaml").write_text(
            f"""
listen: {{host: 127.0.0.1, port: {self.port}}}
sql_url: sqlite:///server.sqlite3
influx: {{enabled: false}}
ingest: {{prepare_workers: 0}}
halls: [hall.yaml]
bootstrap_tokens:
  - {{name: ops, role: admin, token_file: admin.token}}
  - {{name: gw, role: gateway, token_file: gateway.token, sites: [{site}]}}
"""
        )
        origin = time.time()
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **timeline_env(START, SPEED, origin)}
        self.clock = SharedTimelineClock(START, SPEED, origin)
        self.base = f"http://127.0.0.1:{self.port}"
        self.db = sa.create_engine(f"sqlite:///{tmp / 'server.sqlite3'}")

    @contextmanager
    def server(self, name: str) -> Iterator[subprocess.Popen[bytes]]:
        log = (self.tmp / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "system", "server", "run", "--config", str(self.tmp / "server.yaml")],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
        )

        def up() -> bool:
            try:
                return httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        try:
            assert wait_until(up, 60), (self.tmp / f"{name}.log").read_text()
            yield proc
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(30)
            log.close()

    def post(self, path: str, who: str, body: Any) -> httpx.Response:
        return httpx.post(f"{self.base}{path}", json=body, headers={"Authorization": f"Bearer {TOKENS[who]}"})

    def fault(self, device: str) -> None:
        stamper = Stamper(self.site, device, clock=self.clock, epoch=int(time.time() * 1000))
        message = stamper.make(DeviceEvent, event="fault_raised", code="PRN_JAM", unusable=True)
        body = {
            "gateway": "gw",
            "site": self.site,
            "sent_at": self.clock.now().isoformat(),
            "backlog": {"count": 1, "bytes": 100, "oldest_age_s": 0.1},
            "messages": [to_dict(message)],
        }
        assert self.post("/api/v1/ingest", "gateway", body).json()["accepted"] == 1

    def rows(self, query: str) -> list[Any]:
        with self.db.connect() as conn:
            return list(conn.execute(sa.text(query)))


def _alerts_of(receiver: HttpReceiver, path: str, kind: str = "device_fault") -> list[dict[str, Any]]:
    return [a for r in receiver.on(path) for a in r.json()["alerts"] if a["kind"] == kind]


def test_killed_server_keeps_silences_escalations_and_notifications(tmp_path: Path, site_id: str) -> None:
    receiver = start_http()
    receiver.fail["/hook"] = 10**6  # down: every attempt fails until it comes back
    hall = Hall(tmp_path, site_id, receiver.url)
    with hall.server("first") as first:
        now = hall.clock.now()
        silence = {
            "devices": ["k3"],
            "starts": (now - timedelta(hours=1)).isoformat(),
            "ends": (now + timedelta(days=1)).isoformat(),
            "reason": "vendor replacing the dispenser",
        }
        assert hall.post(f"/api/v1/sites/{site_id}/silences", "admin", silence).status_code < 300
        hall.fault("k1")
        [fired] = [a for r in receiver.wait_for("/ok") for a in r.json()["alerts"]]
        receiver.wait_for("/hook")  # attempted, refused: retrying
        assert wait_until(
            lambda: bool(hall.rows("SELECT 1 FROM alert_outbox WHERE channel='ok' AND state='sent'")), 10
        )
        first.kill()  # SIGKILL: no shutdown of any kind
        first.wait(10)
    pending = hall.rows("SELECT channel, updates FROM alert_outbox WHERE state = 'pending'")
    assert [channel for channel, _ in pending] == ["hook"]
    assert json.loads(pending[0][1])[0]["alert"]["id"] == fired["id"]
    [(level,)] = hall.rows(f"SELECT escalation_level FROM alerts WHERE id = '{fired['id']}'")
    assert level == 0  # not due yet when killed
    refused = len(receiver.on("/hook"))
    receiver.fail["/hook"] = 0  # the receiver is back

    with hall.server("second"):
        hook = receiver.wait_for("/hook", refused + 1)[refused:]
        assert [a["id"] for r in hook for a in r.json()["alerts"]] == [fired["id"]]
        # the escalation fires when due, counted from when the alert fired before the kill
        assert wait_until(lambda: bool(_alerts_of(receiver, "/esc")), 60)
        [escalated] = _alerts_of(receiver, "/esc")
        assert (escalated["id"], escalated["event"]) == (fired["id"], "escalated")
        due = datetime.fromisoformat(fired["started_at"]) + timedelta(minutes=ESCALATE_MIN)
        assert datetime.fromisoformat(escalated["at"]) >= due
        # the run-time silence is back: k3's fault is held back, not sent
        hall.fault("k3")
        assert wait_until(
            lambda: bool(hall.rows("SELECT 1 FROM alerts WHERE device = 'k3' AND muted LIKE '%silence%'")), 10
        )
        time.sleep(3)  # a few simulated minutes more: nothing is sent again
        assert len(receiver.on("/ok")) == 1
        assert [a["id"] for a in _alerts_of(receiver, "/hook")][refused:] == [fired["id"]]
        assert len(_alerts_of(receiver, "/esc")) == 1
        assert not [
            a for a in _alerts_of(receiver, "/ok") + _alerts_of(receiver, "/hook") if a["device"] == "k3"
        ]
    assert hall.rows("SELECT count(*) FROM alert_outbox WHERE state = 'pending'") == [(0,)]
