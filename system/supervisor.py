"""Running several LobbyWatch programs as child processes, and stopping them all cleanly.

The demo and the system load test start a broker, a database, a server, gateways and
simulators this way. Every child runs in its own process group so Ctrl-C in the terminal
reaches only the supervisor, which then stops children in reverse start order (SIGINT,
then SIGTERM, then SIGKILL), and reports any child that died on its own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lobbywatch.services import ManagedProcess


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path


@dataclass
class Supervisor:
    """Starts children, watches them, stops them all (reverse order) on request."""

    log_dir: Path
    children: list[Child] = field(default_factory=list)
    services: list[ManagedProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)

    def add_service(self, service: ManagedProcess) -> ManagedProcess:
        """Start a server process (Mosquitto, influxd, ...) and keep it for shutdown."""
        service.start()
        self.services.append(service)
        return service

    def spawn(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None) -> Child:
        """Start ``argv`` as a child with its output in ``<log_dir>/<name>.log``."""
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
                start_new_session=True,
            )
        child = Child(name, proc, log_path)
        self.children.append(child)
        return child

    def lobbywatch(self, name: str, *args: str, env: dict[str, str] | None = None) -> Child:
        """Spawn a ``lobbywatch`` sub-command with this interpreter (``python -m system ...``)."""
        return self.spawn(name, [sys.executable, "-m", "system", *args], env)

    def dead(self) -> list[Child]:
        return [c for c in self.children if c.proc.poll() is not None]

    def log_tail(self, child: Child, lines: int = 20) -> str:
        text = child.log_path.read_text(errors="replace") if child.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop_all(self, timeout: float = 10.0) -> None:
        """Stop children (newest first), then services; escalate to SIGKILL after ``timeout``."""
        for child in reversed(self.children):
            if child.proc.poll() is None:
                child.proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + timeout
        for child in reversed(self.children):
            remaining = max(0.1, deadline - time.monotonic())
            try:
                child.proc.wait(remaining)
            except subprocess.TimeoutExpired:
                child.proc.terminate()
                try:
                    child.proc.wait(3)
                except subprocess.TimeoutExpired:
                    child.proc.kill()
                    child.proc.wait()
        for service in reversed(self.services):
            service.close()
