"""``lobbywatch demo``: the whole system on one machine, two simulated halls, a busy morning.

:class:`Demo` prepares the run directory (configurations, tokens), starts the broker,
InfluxDB, the server and per hall a gateway and the lobby simulator on one accelerated
timeline (children run by :mod:`system.supervisor`), prints the page URLs and watches the
children until Ctrl-C. What runs and what you see: ``docs/demo.md``.
"""

from __future__ import annotations

import json
import secrets
import shutil
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

import yaml

from edge.simulate.runner import default_start
from lobbywatch.clock import timeline_env
from lobbywatch.config import load_site_config
from lobbywatch.services import Influxd, Mosquitto, ServiceStartError, free_port, wait_until
from system.supervisor import Child, Supervisor

EXAMPLES = Path(__file__).resolve().parents[1] / "deploy" / "examples"
DEMO_HALLS = ("telecom-hall.yaml", "bank-branch.yaml")
SCENARIO = "busy-morning"
SERVER_START_TIMEOUT_S = 90.0
# State of a previous run that a new run starts without (tokens are kept, so bookmarked
# wall and staff URLs keep working).
STALE: tuple[str, ...] = (
    "server.sqlite3",
    "server.sqlite3-wal",
    "server.sqlite3-shm",
    "gateway",
    "influxdb",
    "mosquitto",
    "logs",
    "halls",
    "pids.json",
    "demo.json",
)


class Interrupted(Exception):
    """Ctrl-C arrived while the demo was still starting."""


@dataclass(frozen=True)
class DemoOptions:
    """What ``lobbywatch demo`` was asked to do."""

    speed: float = 60.0
    port: int = 8000
    run_dir: Path = Path("lobbywatch-demo")
    video: Path | None = None
    start: str | None = None  # HH:MM in the halls' local time; default: opening time
    seed: int = 7
    halls: tuple[Path, ...] = tuple(EXAMPLES / name for name in DEMO_HALLS)


@dataclass
class DemoHall:
    """One hall of the demo: its site id, generated config files and tokens."""

    site: str
    config: Path  # for the gateway and the vision daemon
    sim_config: Path  # for the simulator (without the camera a video replaces)
    display_token: str
    gateway_token_file: Path
    video_camera: str | None = None


@dataclass
class DemoState:
    """Everything the running demo knows (printed, written to the run directory)."""

    base_url: str
    halls: list[DemoHall] = field(default_factory=list)
    manager_token: str = ""
    admin_token: str = ""


def say(en: str, zh: str) -> None:
    """Print one line in English and in Chinese."""
    print(f"{en}\n  {zh}", flush=True)


def parse_start(value: str | None, tz: ZoneInfo, default: datetime) -> datetime:
    """``HH:MM`` today in the halls' timezone, or ``default`` (the next opening time)."""
    if value is None:
        return default
    try:
        hh, mm = (int(part) for part in value.split(":"))
        local = datetime.now(UTC).astimezone(tz).replace(hour=hh, minute=mm, second=0, microsecond=0)
    except ValueError:
        raise ValueError(
            f"--start {value!r} is not HH:MM (e.g. 09:00) / --start {value!r} 不是 HH:MM 格式（如 09:00）"
        ) from None
    return local.astimezone(UTC)


def _write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _token(run_dir: Path, name: str) -> tuple[str, Path]:
    path = run_dir / "tokens" / f"{name}.token"
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        plain = path.read_text(encoding="utf-8").strip()
    else:
        plain = "lw-demo-" + secrets.token_urlsafe(24)
        path.write_text(plain + "\n", encoding="utf-8")
        path.chmod(0o600)
    return plain, path


def write_hall(
    template: Path, run_dir: Path, broker_port: int, base_url: str, video: Path | None
) -> tuple[DemoHall, dict[str, Any]]:
    """A copy of an example hall wired to the demo's broker and server; its bootstrap tokens."""
    data: dict[str, Any] = yaml.safe_load(template.read_text(encoding="utf-8"))
    site = str(data["site"])
    hall_dir = run_dir / "halls"
    _gw_token, gw_token_file = _token(run_dir, f"gateway-{site}")
    display_token, display_file = _token(run_dir, f"display-{site}")
    data["broker"] = {"host": "127.0.0.1", "port": broker_port}
    gateway = dict(data.get("gateway") or {})
    gateway.update(
        {
            "server_url": base_url,
            "token_file": str(gw_token_file),
            "outbox": str(run_dir / "gateway" / f"{site}-outbox.sqlite3"),
            "health_port": free_port(),
            "max_disk_mb": 64,
        }
    )
    data["gateway"] = gateway
    # No network in a demo: alerts go to the hall displays (MQTT) and the web pages only.
    data["notifications"] = {
        "channels": [{"name": "hall-displays", "type": "mqtt"}],
        "routes": [{"channels": ["hall-displays"]}],
    }
    video_camera: str | None = None
    sim_data = data
    if video is not None:
        cameras = list(data["cameras"])
        video_camera = str(cameras[0]["id"])
        cameras[0] = {**cameras[0], "source": str(video.resolve()), "loop": True}
        data["cameras"] = cameras
        sim_data = {**data, "cameras": cameras[1:]}
    config = _write_yaml(hall_dir / f"{site}.yaml", data)
    sim_config = _write_yaml(hall_dir / f"{site}-sim.yaml", sim_data) if video else config
    load_site_config(config)  # fail here, with located errors, rather than in a child
    if sim_config != config:
        load_site_config(sim_config)
    hall = DemoHall(site, config, sim_config, display_token, gw_token_file, video_camera)
    tokens = [
        {"name": f"gateway {site}", "role": "gateway", "token_file": str(gw_token_file), "sites": [site]},
        {"name": f"wall {site}", "role": "display", "token_file": str(display_file), "sites": [site]},
    ]
    return hall, {"tokens": tokens}


MARKER = ".lobbywatch-demo"


def claim_run_dir(run_dir: Path) -> None:
    """Use ``run_dir`` only if it is empty or an earlier demo's (so nothing else is deleted)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    marker = run_dir / MARKER
    if not marker.exists():
        if any(run_dir.iterdir()):
            raise ValueError(
                f"--run-dir {run_dir} is not empty and is not a demo run directory; pick another "
                f"/ --run-dir {run_dir} 不是空目录，也不是演示目录；请换一个"
            )
        marker.write_text("lobbywatch demo run directory\n", encoding="utf-8")
    clear_previous_run(run_dir)


def clear_previous_run(run_dir: Path) -> None:
    """Remove the data of an earlier demo in ``run_dir``: each run replays the same morning."""
    for name in (*STALE, *(p.name for p in run_dir.glob("truth-*.json"))):
        path = run_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


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

        admin, admin_file = _token(self.run_dir, "admin")
        manager, manager_file = _token(self.run_dir, "manager")
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
        server_yaml = _write_yaml(
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

        first = load_site_config(self.state.halls[0].config)
        tz = ZoneInfo(first.timezone)
        start = parse_start(opts.start, tz, default_start(first))
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
        """Write ``demo.json`` (base URL, timeline, page URLs, every token) and print, in en and
        zh-CN, the wall page of each hall, the staff page, the API docs, when the simulated time
        starts and how fast it runs, and where the logs are.
        """
        base = self.state.base_url
        walls = {h.site: f"{base}/wall/{h.site}#token={h.display_token}" for h in self.state.halls}
        info: dict[str, Any] = {
            "base_url": base,
            "timeline_start": self.timeline_start.isoformat(),
            "speed": self.options.speed,
            "walls": walls,
            "staff": f"{base}/staff#token={self.state.manager_token}",
            "api_docs": f"{base}/docs",
            "tokens": {
                "admin": self.state.admin_token,
                "manager": self.state.manager_token,
                **{f"display-{h.site}": h.display_token for h in self.state.halls},
            },
        }
        (self.run_dir / "demo.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
        print("", flush=True)
        say("LobbyWatch demo is running.", "LobbyWatch 演示已运行。")
        for site, url in walls.items():
            say(f"  Wall page ({site}):", f"  大屏页面（{site}）：")
            print(f"    {url}", flush=True)
        say("  Staff page (duty manager):", "  值班经理页面：")
        print(f"    {info['staff']}", flush=True)
        say(f"  API docs: {base}/docs", f"  接口文档：{base}/docs")
        minutes = 60 / self.options.speed
        tz = ZoneInfo(load_site_config(self.state.halls[0].config).timezone)
        local = self.timeline_start.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")
        say(
            f"  Simulated time starts at {local} and runs {self.options.speed:g}x "
            f"(one simulated hour every {minutes:.1f} real minutes); the busy morning peaks after "
            "about 30-55 simulated minutes.",
            f"  模拟时间从 {local} 开始，{self.options.speed:g} 倍速"
            f"（每 {minutes:.1f} 分钟真实时间为一小时模拟时间）；约 30–55 模拟分钟后进入高峰。",
        )
        say(
            "  No Grafana needed: the built-in wall and staff pages show everything live "
            "(Grafana dashboards are optional, see docs/demo.md).",
            "  无需 Grafana：内置大屏页面和员工页面实时显示全部信息（Grafana 仪表板可选，见 docs/demo.md）。",
        )
        say(f"  Logs and configuration: {self.run_dir}", f"  日志和配置：{self.run_dir}")
        say("Press Ctrl-C to stop everything.", "按 Ctrl-C 停止全部进程。")

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
