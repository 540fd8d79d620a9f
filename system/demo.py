"""``lobbywatch demo``: the whole system on one machine, three simulated halls (one seen by two
overlapping cameras), queue tickets, a busy morning.

:class:`Demo` prepares the run directory (configurations, tokens: :mod:`system.demo_files`),
starts the broker, InfluxDB, the server and per hall a gateway and the lobby simulator (with
its queue-ticket system) on one accelerated timeline, on a day every hall is open
(:mod:`system.demo_day`; children run by :mod:`system.supervisor`), prints the page URLs
and watches the children until Ctrl-C. What runs and what you see: ``docs/demo.md``.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

from lobbywatch.clock import timeline_env
from lobbywatch.config import load_site_config
from lobbywatch.services import Influxd, Mosquitto, ServiceStartError, wait_until
from system.demo_announce import announce, demo_info, say
from system.demo_day import all_open_start, day_lines
from system.demo_files import DEMO_HALLS, DemoHall, claim_run_dir, token, write_hall, write_yaml
from system.supervisor import Child, Supervisor

SCENARIO = "busy-morning"
#: Share of the queuers who take a queue ticket; the others walk in, seen only by the cameras.
TICKET_SHARE = 0.8
SERVER_START_TIMEOUT_S = 90.0


class Interrupted(Exception):
    """Ctrl-C arrived while the demo was still starting."""


@dataclass(frozen=True)
class DemoOptions:
    """What ``lobbywatch demo`` was asked to do."""

    speed: float = 60.0
    port: int = 8000
    run_dir: Path = Path("lobbywatch-demo")
    video: Path | None = None
    start: str | None = None  # HH:MM in the halls' local time; default: all halls just opened
    seed: int = 7
    halls: tuple[Path, ...] = DEMO_HALLS


@dataclass
class DemoState:
    """Everything the running demo knows (printed, written to the run directory)."""

    base_url: str
    halls: list[DemoHall] = field(default_factory=list)
    manager_token: str = ""
    admin_token: str = ""


def parse_start(value: str | None, tz: ZoneInfo, default: datetime) -> datetime:
    """``HH:MM`` in the halls' timezone on the day of ``default``, or ``default`` itself (the
    simulated day's start: :func:`system.demo_day.all_open_start`)."""
    if value is None:
        return default
    try:
        hh, mm = (int(part) for part in value.split(":"))
        local = default.astimezone(tz).replace(hour=hh, minute=mm, second=0, microsecond=0)
    except ValueError:
        raise ValueError(
            f"--start {value!r} is not HH:MM (e.g. 09:00) / --start {value!r} 不是 HH:MM 格式（如 09:00）"
        ) from None
    return local.astimezone(UTC)


class Demo:
    """Builds the run directory, starts every process, watches them, stops them."""

    def __init__(self, options: DemoOptions) -> None:
        self.options = options
        self.run_dir = options.run_dir.resolve()
        claim_run_dir(self.run_dir)
        self.supervisor = Supervisor(self.run_dir / "logs")
        self.stop_event = threading.Event()
        self.reported: set[int] = set()
        self.state = DemoState(base_url=f"http://127.0.0.1:{options.port}")

    # ------------------------------------------------------------------ pids
    def write_pids(self) -> None:
        """``pids.json``: name -> pid of every child process, services included."""
        pids: dict[str, int] = {}
        for service in self.supervisor.services:
            if service.proc is not None:
                pids[service.name] = service.proc.pid
        for child in self.supervisor.children:
            pids[child.name] = child.proc.pid
        tmp = self.run_dir / "pids.json.tmp"
        tmp.write_text(json.dumps(pids, indent=2), encoding="utf-8")
        tmp.replace(self.run_dir / "pids.json")

    # ------------------------------------------------------------------ start
    def start(self) -> None:
        """Start everything, in order, and return once the URLs are printed: Mosquitto and InfluxDB;
        the tokens and each hall's configuration rewritten into the run directory, then the
        server's; the server on the shared timeline (waits until its API answers, else raises
        :class:`ServiceStartError` with its log); then per hall the gateway, the lobby simulator
        and, with ``--video``, the vision daemon. ``pids.json`` is rewritten after each start, and
        Ctrl-C between steps raises :class:`Interrupted`.
        """
        opts = self.options
        say("Starting Mosquitto and InfluxDB ...", "正在启动 Mosquitto 和 InfluxDB ……")
        for sub in ("mosquitto", "influxdb"):
            (self.run_dir / sub).mkdir(exist_ok=True)
        broker = Mosquitto(self.run_dir / "mosquitto")
        self.supervisor.add_service(broker)
        self.write_pids()
        self.check_interrupted()
        influx = Influxd(self.run_dir / "influxdb")
        self.supervisor.add_service(influx)
        self.write_pids()
        self.check_interrupted()

        admin, admin_file = token(self.run_dir, "admin")
        manager, manager_file = token(self.run_dir, "manager")
        self.state.admin_token, self.state.manager_token = admin, manager
        bootstrap: list[dict[str, Any]] = [
            {"name": "demo admin", "role": "admin", "token_file": str(admin_file)}
        ]
        for template in opts.halls:
            video = opts.video if not self.state.halls else None
            hall, extra = write_hall(template, self.run_dir, broker.port, self.state.base_url, video)
            self.state.halls.append(hall)
            bootstrap.extend(extra["tokens"])
        sites = [h.site for h in self.state.halls]
        bootstrap.append(
            {"name": "duty manager", "role": "manager", "token_file": str(manager_file), "sites": sites}
        )
        server_yaml = write_yaml(
            self.run_dir / "server.yaml",
            {
                "config_version": 1,
                "listen": {"host": "127.0.0.1", "port": opts.port},
                "sql_url": f"sqlite:///{self.run_dir / 'server.sqlite3'}",
                "influx": {"url": influx.url, "database": "lobbywatch"},
                "halls": [str(h.config) for h in self.state.halls],
                "bootstrap_tokens": bootstrap,
            },
        )

        configs = [load_site_config(h.config) for h in self.state.halls]
        tz = ZoneInfo(configs[0].timezone)
        now = datetime.now(UTC)
        start = parse_start(opts.start, tz, all_open_start(configs, now))
        say(*day_lines(start, tz, now.astimezone(tz).date()))
        env = timeline_env(start, opts.speed)
        self.timeline_start = start

        say("Starting the server ...", "正在启动中心服务器 ……")
        self.supervisor.lobbywatch("server", "server", "run", "--config", str(server_yaml), env=env)
        self.write_pids()
        ready = self.wait_server()
        self.check_interrupted()
        if not ready:
            raise ServiceStartError(
                "the server did not answer within "
                f"{SERVER_START_TIMEOUT_S:.0f}s / 服务器未在规定时间内响应:\n"
                + self.supervisor.log_tail(self.supervisor.children[-1], 30)
            )
        say("Starting gateways, simulated halls and devices ...", "正在启动网关、模拟营业厅和设备 ……")
        for i, hall in enumerate(self.state.halls):
            self.supervisor.lobbywatch(
                f"gateway-{hall.site}", "gateway", "run", "--config", str(hall.config), env=env
            )
            self.supervisor.lobbywatch(
                f"simulate-{hall.site}",
                "simulate",
                "hall",
                "--config",
                str(hall.sim_config),
                "--speed",
                repr(opts.speed),
                "--scenario",
                SCENARIO,
                "--seed",
                str(opts.seed + i),
                "--tickets",
                "--ticket-share",
                repr(TICKET_SHARE),
                "--truth-report",
                str(self.run_dir / f"truth-{hall.site}.json"),
                env=env,
            )
            if hall.video_camera is not None:
                self.supervisor.lobbywatch(
                    f"vision-{hall.site}-{hall.video_camera}",
                    "edge",
                    "vision",
                    "--config",
                    str(hall.config),
                    "--camera",
                    hall.video_camera,
                    env={**env, "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "0"},
                )
            self.write_pids()
        self.print_urls()

    def check_interrupted(self) -> None:
        if self.stop_event.is_set():
            raise Interrupted

    def wait_server(self) -> bool:
        url = f"{self.state.base_url}/api/v1/sites"
        server = self.supervisor.children[-1]

        def up() -> bool:
            if server.proc.poll() is not None or self.stop_event.is_set():
                return True
            req = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.state.admin_token}"})
            try:
                with urllib.request.urlopen(req, timeout=2) as resp:
                    return bool(resp.status == 200)
            except (urllib.error.URLError, OSError):
                return False

        ok = wait_until(up, SERVER_START_TIMEOUT_S, interval=0.3)
        return ok and server.proc.poll() is None and not self.stop_event.is_set()

    def print_urls(self) -> None:
        """Write ``demo.json`` and print the pages, in en and zh-CN (:mod:`system.demo_announce`)."""
        tokens = {"admin": self.state.admin_token, "manager": self.state.manager_token}
        state, opts = self.state, self.options
        info = demo_info(state.base_url, state.halls, tokens, self.timeline_start, opts.speed)
        tz = ZoneInfo(load_site_config(self.state.halls[0].config).timezone)
        announce(info, self.run_dir, tz)

    # ------------------------------------------------------------------ watch
    def watch(self) -> int:
        """Until Ctrl-C: report children that die; return 1 when the server, the broker or InfluxDB dies."""
        while not self.stop_event.wait(1.0):
            for child in self.supervisor.dead():
                if child.proc.pid in self.reported:
                    continue
                self.reported.add(child.proc.pid)
                self.report_death(child)
                if child.name == "server":
                    say(
                        "The server stopped; stopping the demo.",
                        "服务器已停止，演示随之停止。",
                    )
                    return 1
            for service in self.supervisor.services:
                if not service.running:
                    say(
                        f"{service.name} stopped unexpectedly; stopping the demo. Log tail:\n"
                        f"{service.log_tail(20)}",
                        f"{service.name} 意外停止，演示随之停止。",
                    )
                    return 1
        return 0

    def report_death(self, child: Child) -> None:
        code = child.proc.returncode
        say(
            f"[{child.name}] exited unexpectedly with code {code}; the rest keeps running. "
            f"Last lines of {child.log_path}:",
            f"[{child.name}] 意外退出（代码 {code}）；其余进程继续运行。日志末尾：",
        )
        print(self.supervisor.log_tail(child, 20), flush=True)

    def stop(self) -> None:
        say("Stopping every process ...", "正在停止全部进程 ……")
        self.supervisor.stop_all(timeout=15.0)
        say("Stopped. Nothing is left running.", "已停止，没有遗留进程。")


def run_demo(options: DemoOptions) -> int:
    """Run the demo until SIGINT/SIGTERM; return the exit code."""
    if options.video is not None and not options.video.is_file():
        say(f"--video {options.video}: no such file", f"--video {options.video}：文件不存在")
        return 2
    try:
        parse_start(options.start, ZoneInfo("UTC"), datetime.now(UTC))  # a bad --start fails first
        demo = Demo(options)
    except (ValueError, OSError) as exc:
        print(f"error / 错误: {exc}", file=sys.stderr, flush=True)
        return 2

    def on_signal(_sig: int, _frame: FrameType | None) -> None:
        demo.stop_event.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    code = 0
    try:
        demo.start()
        code = demo.watch()
    except Interrupted:
        code = 0
    except (ServiceStartError, ValueError, OSError) as exc:
        print(f"error / 错误: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        # A second Ctrl-C during shutdown must not leave orphans: ignore it while stopping.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        demo.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code


__all__ = ["DemoOptions", "parse_start", "run_demo"]
