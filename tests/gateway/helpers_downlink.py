"""The downlink tests' cast: a central server process that knows no broker, hall configs for
it and for the gateway, and a gateway process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from lobbywatch.services import free_port, wait_until
from tests.gateway.helpers_gateway import start_gateway_process

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "examples" / "telecom-hall.yaml"
TOKENS = {
    "admin": "lw_admin-downlink-test",
    "manager": "lw_manager-downlink-test",
    "gateway": "lw_gateway-downlink-test",
    "display": "lw_display-downlink-test",
}


def server_hall(site: str) -> dict[str, Any]:
    """The example hall as the central server sees it: no broker address at all, and the
    in-hall displays as its only channel (nothing leaves the machine)."""
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["site"] = site
    data.pop("broker", None)
    data.pop("gateway", None)
    data["notifications"] = {
        "channels": [{"name": "hall-displays", "type": "mqtt"}],
        "routes": [{"channels": ["hall-displays"]}],
        "escalation": [],
    }
    return data


@dataclass
class Central:
    """``lobbywatch server run`` as a child process on a fixed port and SQLite file, so that
    it can be stopped and started again over the same database."""

    root: Path
    site: str
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def sql_url(self) -> str:
        return f"sqlite:///{self.root / 'server.sqlite3'}"

    def write_config(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        hall = self.root / "hall.yaml"
        hall.write_text(yaml.safe_dump(server_hall(self.site), allow_unicode=True), encoding="utf-8")
        for role, token in TOKENS.items():
            (self.root / f"{role}.token").write_text(token + "\n")
        sites = f"[{self.site}]"
        config = self.root / "server.yaml"
        config.write_text(
            f"""
listen: {{host: 127.0.0.1, port: {self.port}}}
sql_url: {self.sql_url}
influx: {{enabled: false}}
halls: [{hall}]
bootstrap_tokens:
  - {{name: ops, role: admin, token_file: admin.token}}
  - {{name: li-manager, role: manager, token_file: manager.token, sites: {sites}}}
  - {{name: gw, role: gateway, token_file: gateway.token, sites: {sites}}}
  - {{name: tv, role: display, token_file: display.token, sites: {sites}}}
"""
        )
        return config

    def start(self) -> Central:
        config = self.write_config()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}
        with (self.root / "server.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "system", "server", "run", "--config", str(config)],
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        assert wait_until(self._up, 60), self.log()
        return self

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.proc is not None:
            self.proc.send_signal(sig)
            self.proc.wait(30)
            self.proc = None

    def _up(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def log(self) -> str:
        path = self.root / "server.log"
        return path.read_text()[-3000:] if path.exists() else ""

    def call(self, method: str, path: str, role: str, body: dict[str, Any] | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {TOKENS[role]}"}
        return httpx.request(method, self.url + path, headers=headers, json=body, timeout=10)

    def device_state(self, device: str) -> str | None:
        r = self.call("GET", f"/api/v1/sites/{self.site}/devices/{device}", "admin")
        live = r.json().get("live") if r.status_code == 200 else None
        return None if live is None else str(live["state"])

    def out_of_service(self, device: str, on: bool, role: str = "manager") -> httpx.Response:
        path = f"/api/v1/sites/{self.site}/devices/{device}/out-of-service"
        return self.call("POST", path, role, {"out_of_service": on, "detail": "test"})


@dataclass
class HallGateway:
    """The hall's gateway as a child process, pointed at the hall broker and the server."""

    root: Path
    site: str
    broker_port: int
    server_url: str
    health_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def write_config(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
        data["site"] = self.site
        data.pop("notifications", None)
        data["broker"] = {"host": "127.0.0.1", "port": self.broker_port, "keepalive_s": 5}
        token = self.root / "gateway.token"
        token.write_text(TOKENS["gateway"] + "\n")
        data["gateway"] = {
            "id": "gw1",
            "server_url": self.server_url,
            "token_file": str(token),
            "outbox": str(self.root / "outbox.sqlite3"),
            "batch_age_s": 0.02,
            "health_port": self.health_port,
            "request_timeout_s": 5,
            "retry_initial_s": 0.05,
            "retry_max_s": 0.5,
            "downlink_wait_s": 2,
        }
        config = self.root / "gateway-hall.yaml"
        config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        return config

    def start(self) -> HallGateway:
        self.proc = start_gateway_process(self.write_config(), self.root / "gateway.log", self.health_port)
        return self

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.proc is not None:
            self.proc.send_signal(sig)
            self.proc.wait(30)
            self.proc = None

    def log(self) -> str:
        path = self.root / "gateway.log"
        return path.read_text()[-3000:] if path.exists() else ""
