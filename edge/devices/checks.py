"""Built-in checks the agent runs by itself (process, URL, disk, command), raising and clearing
faults on their outcome, and the loader of their YAML file (``--checks FILE``).

File format and behaviour: ``docs/device-agent.md``, "Built-in checks".
"""

from __future__ import annotations

import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from lobbywatch.config.loader import Loc, load_yaml_model
from lobbywatch.protocol.fields import FaultCode


class _Check(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    every_s: float = Field(default=15, ge=0.1, le=86400, description="Run the check this often, s.")
    fail_after: int = Field(default=1, ge=1, le=100, description="Failures in a row before the fault.")

    def describe(self) -> str:
        raise NotImplementedError

    def run(self) -> str | None:
        """None when healthy, else why not (the fault's detail text)."""
        raise NotImplementedError


class ProcessCheck(_Check):
    """A process with this name (or command line containing it) is running."""

    type: Literal["process"]
    name: str = Field(min_length=1, max_length=200, description="Process name to look for.")
    code: FaultCode = Field(default="PROCESS_DOWN", description="Fault raised when it is not running.")

    def describe(self) -> str:
        return f"process {self.name!r}"

    def run(self) -> str | None:
        import psutil  # type: ignore[import-untyped,unused-ignore]

        for proc in psutil.process_iter(["name", "cmdline"]):
            info = proc.info
            cmd = " ".join(info.get("cmdline") or [])
            if info.get("name") == self.name or self.name in cmd:
                return None
        return f"no process named {self.name!r} is running"


class UrlCheck(_Check):
    """A URL answers with a status below 400 within the timeout."""

    type: Literal["url"]
    url: str = Field(pattern=r"^https?://", max_length=1000, description="URL to fetch.")
    timeout_s: float = Field(default=5, gt=0, le=60, description="How long to wait for an answer.")
    code: FaultCode = Field(default="URL_UNREACHABLE", description="Fault raised when it fails.")

    def describe(self) -> str:
        return f"url {self.url}"

    def run(self) -> str | None:
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout_s) as resp:
                status = int(resp.status)
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (urllib.error.URLError, OSError) as exc:
            return f"{self.url} did not answer: {exc}"
        return None if status < 400 else f"{self.url} answered HTTP {status}"


class DiskCheck(_Check):
    """Free space on the file system holding ``path`` stays above a share of its size."""

    type: Literal["disk"]
    path: Path = Field(default=Path("/"), description="A path on the file system to watch.")
    min_free_pct: float = Field(default=10, gt=0, lt=100, description="Least free space, %.")
    code: FaultCode = Field(default="DISK_LOW", description="Fault raised below the threshold.")

    def describe(self) -> str:
        return f"disk {self.path} >= {self.min_free_pct}% free"

    def run(self) -> str | None:
        try:
            usage = shutil.disk_usage(self.path)
        except OSError as exc:
            return f"cannot read disk usage of {self.path}: {exc.strerror}"
        free = 100.0 * usage.free / usage.total if usage.total else 0.0
        return (
            None
            if free >= self.min_free_pct
            else f"{free:.1f}% free on {self.path}, below {self.min_free_pct}%"
        )


class CommandCheck(_Check):
    """A command (printer status tool and the like) exits 0 within the timeout."""

    type: Literal["command"]
    command: list[str] = Field(min_length=1, max_length=64, description="Program and arguments.")
    timeout_s: float = Field(default=10, gt=0, le=600, description="Kill it after this long.")
    code: FaultCode = Field(default="CHECK_FAILED", description="Fault raised when it fails.")

    def describe(self) -> str:
        return "command " + " ".join(self.command)

    def run(self) -> str | None:
        try:
            result = subprocess.run(
                self.command,
                capture_output=True,
                timeout=self.timeout_s,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except FileNotFoundError:
            return f"command not found: {self.command[0]}"
        except subprocess.TimeoutExpired:
            return f"{self.command[0]} did not finish in {self.timeout_s}s"
        if result.returncode == 0:
            return None
        tail = result.stderr.decode(errors="replace").strip()[-200:]
        return f"{self.command[0]} exited {result.returncode}" + (f": {tail}" if tail else "")


Check = Annotated[ProcessCheck | UrlCheck | DiskCheck | CommandCheck, Field(discriminator="type")]


class ChecksConfig(BaseModel):
    """The agent's checks file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    checks: list[Check] = Field(default_factory=list, max_length=64, description="Checks to run.")


def load_checks(path: Path, known_code: set[str] | None = None) -> ChecksConfig:
    """Read a checks file; ``ConfigError`` names file:line and field of each problem."""

    def verify(cfg: ChecksConfig) -> list[tuple[Loc, str]]:
        if known_code is None:
            return []
        return [
            (("checks", i, "code"), f"unknown fault code {c.code!r}; see docs/fault-codes.md")
            for i, c in enumerate(cfg.checks)
            if c.code not in known_code
        ]

    return load_yaml_model(path, ChecksConfig, verify)


class CheckRunner:
    """Runs due checks and keeps each one's failures in a row; :meth:`run_due` returns the changes."""

    def __init__(self, checks: list[Check]) -> None:
        self.checks = checks
        self._next_due = [0.0] * len(checks)
        self._failures = [0] * len(checks)
        self._raised = [False] * len(checks)

    def run_due(self, now: float) -> list[tuple[str, bool, str | None]]:
        """Run the checks due at monotonic ``now``; returns (code, raised, detail) changes."""
        changes: list[tuple[str, bool, str | None]] = []
        for i, check in enumerate(self.checks):
            if now < self._next_due[i]:
                continue
            self._next_due[i] = now + check.every_s
            try:
                problem = check.run()
            except Exception as exc:  # a broken check is a failed check, never a dead agent
                problem = f"{check.describe()} crashed: {exc}"
            if problem is None:
                self._failures[i] = 0
                if self._raised[i]:
                    self._raised[i] = False
                    changes.append((check.code, False, None))
            else:
                self._failures[i] += 1
                if not self._raised[i] and self._failures[i] >= check.fail_after:
                    self._raised[i] = True
                    changes.append((check.code, True, problem[:500]))
        return changes


__all__ = [
    "Check",
    "CheckRunner",
    "ChecksConfig",
    "CommandCheck",
    "DiskCheck",
    "ProcessCheck",
    "UrlCheck",
    "load_checks",
]
