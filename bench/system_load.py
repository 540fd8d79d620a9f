"""System load test: N simulated halls -> Mosquitto -> gateways -> server -> InfluxDB and SQL.

Run from the repository root::

    .venv/bin/python -m bench.system_load [--max-halls 8] [--step-seconds 30] [--speed 30]

Everything is a real process on 127.0.0.1, started with :class:`system.supervisor.Supervisor`
on one accelerated timeline (:func:`lobbywatch.clock.timeline_env`):

* one InfluxDB 1.x (``influxd``) and the server (``lobbywatch server run``, SQLite), whose
  configuration lists every hall the ramp may reach;
* per hall: its own Mosquitto (the hall's edge broker), its gateway (``lobbywatch gateway
  run``, durable outbox, ``/healthz``) and the lobby simulator (``lobbywatch simulate hall``:
  people, queues and counters turned into tracked boxes fed through the production vision
  pipeline, plus the kiosks of the device fleet simulator). Halls alternate between the two
  example halls in ``deploy/examples``.

The ramp adds halls (1, 2, 4, 8, ... up to ``--max-halls``). Each step warms up, then for
``--step-seconds`` it samples every gateway's outbox backlog, counts forwarded messages, and
every ``--fault-every`` seconds publishes a device fault (fresh fault code, a bench-only kiosk
that the simulator does not drive) at one hall broker; alert latency = time the alert's
webhook request reached a local receiver - time the fault was handed to the MQTT client.
A step is *sustained* when the total backlog does not grow (least-squares slope and final
size), no message waits in an outbox longer than ``--max-age`` seconds, and at least 90 % of
the faults raised an alert within the step. The ramp stops at the first step that is not.

``--speed`` is simulated seconds per real second: a hall at speed S sends roughly S times
the traffic of a real hall, so a 2-core machine can reach the server's limits with a few
processes per hall. The report gives the measured rates and, divided by S, the real-time
equivalent per hall. It prints a table and, last, one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402
from paho.mqtt.client import Client  # noqa: E402

from bench.system_load_probe import (  # noqa: E402
    HookReceiver,
    KindUsage,
    ProcessMeter,
    gateway_health,
    percentile,
    slope,
    start_hook,
)
from lobbywatch.clock import SharedTimelineClock, timeline_env  # noqa: E402
from lobbywatch.config import load_site_config  # noqa: E402
from lobbywatch.config.site import BrokerConfig  # noqa: E402
from lobbywatch.mqtt import connect_and_wait, make_client, publish  # noqa: E402
from lobbywatch.protocol.messages import DeviceEvent  # noqa: E402
from lobbywatch.protocol.sequence import Stamper  # noqa: E402
from lobbywatch.services import Influxd, Mosquitto, free_port, wait_until  # noqa: E402
from system.supervisor import Supervisor  # noqa: E402

EXAMPLES = ROOT / "deploy" / "examples"
TEMPLATES = ("telecom-hall.yaml", "bank-branch.yaml")
BENCH_DEVICE = "bench-kiosk"
SERVER_START_TIMEOUT_S = 120.0


@dataclass
class Hall:
    """One simulated hall of the ramp and what runs for it."""

    index: int
    site: str
    config: Path  # gateway and server (with the bench kiosk)
    sim_config: Path  # simulator (without it)
    health_port: int
    broker: Mosquitto | None = None
    client: Client | None = None
    stamper: Stamper | None = None


@dataclass
class StepResult:
    """What one step of the ramp measured."""

    halls: int
    seconds: float
    loadavg: tuple[float, float, float]
    forwarded_per_s: float
    received_per_s: float
    backlog_start: int
    backlog_end: int
    backlog_slope_per_s: float
    max_oldest_age_s: float  # real seconds
    faults: int
    alerts: int
    latencies_ms: list[float]
    usage: list[KindUsage]
    dead: list[str]
    rejected: int = 0
    sustained: bool = False
    reasons: list[str] = field(default_factory=list)

    def per_server_cpu_s(self) -> float | None:
        """Messages forwarded per CPU second of the server process (robust to a busy machine)."""
        cpu = sum(u.cpu_percent for u in self.usage if u.kind == "server")
        return round(self.forwarded_per_s / (cpu / 100), 0) if cpu > 0 else None

    def as_dict(self, speed: float) -> dict[str, Any]:
        p50, p99 = percentile(self.latencies_ms, 50), percentile(self.latencies_ms, 99)
        return {
            "halls": self.halls,
            "seconds": round(self.seconds, 1),
            "loadavg_1_5_15": [round(v, 2) for v in self.loadavg],
            "msgs_per_s": round(self.forwarded_per_s, 1),
            "received_per_s": round(self.received_per_s, 1),
            "msgs_per_s_per_hall_real_time": round(self.forwarded_per_s / self.halls / speed, 2),
            "msgs_per_server_cpu_s": self.per_server_cpu_s(),
            "rejected_by_server": self.rejected,
            "backlog_start": self.backlog_start,
            "backlog_end": self.backlog_end,
            "backlog_slope_per_s": round(self.backlog_slope_per_s, 2),
            "max_oldest_age_s": round(self.max_oldest_age_s, 2),
            "faults": self.faults,
            "alerts": self.alerts,
            "alert_p50_ms": None if p50 is None else round(p50, 1),
            "alert_p99_ms": None if p99 is None else round(p99, 1),
            "usage": [u.as_dict() for u in self.usage],
            "dead": self.dead,
            "sustained": self.sustained,
            "reasons": self.reasons,
        }


def ramp(max_halls: int) -> list[int]:
    """1, 2, 4, ... below ``max_halls``, then ``max_halls`` itself."""
    out: list[int] = []
    n = 1
    while n < max_halls:
        out.append(n)
        n *= 2
    out.append(max_halls)
    return out


def _write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _token(run_dir: Path, name: str) -> Path:
    path = run_dir / "tokens" / f"{name}.token"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"lw-load-{name}-{os.urandom(12).hex()}\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def write_hall(index: int, run_dir: Path, base_url: str, hook_url: str) -> tuple[Hall, dict[str, Any]]:
    """Hall ``index``: configs from an example hall with its own site id; its gateway token."""
    template = EXAMPLES / TEMPLATES[index % len(TEMPLATES)]
    data: dict[str, Any] = yaml.safe_load(template.read_text(encoding="utf-8"))
    site = f"{data['site']}-l{index}"
    data["site"] = site
    token_file = _token(run_dir, f"gateway-{site}")
    health_port = free_port()
    data["broker"] = {"host": "127.0.0.1", "port": 1}  # set when the hall's broker starts
    data["gateway"] = {
        "id": f"gw-load-{index}",
        "server_url": base_url,
        "token_file": str(token_file),
        "outbox": str(run_dir / "outbox" / f"{site}.sqlite3"),
        "health_port": health_port,
        "max_disk_mb": 64,
    }
    data["notifications"] = {
        "channels": [{"name": "hook", "type": "webhook", "url": hook_url}],
        "routes": [{"kinds": ["device_fault"], "channels": ["hook"]}],
        "escalation": [],
        "policy": {"flap_window_s": 0},
    }
    devices = list(data.get("devices") or [])
    kiosk = next(d for d in devices if d.get("zone") and d["kind"] != "counter_terminal")
    sim = dict(data)
    data["devices"] = [
        *devices,
        {"id": BENCH_DEVICE, "kind": kiosk["kind"], "vendor": kiosk["vendor"], "model": "BENCH",
         "zone": kiosk["zone"]},
    ]  # fmt: skip
    hall = Hall(
        index,
        site,
        run_dir / "halls" / f"{site}.yaml",
        run_dir / "halls" / f"{site}-sim.yaml",
        health_port,
    )
    _write_yaml(hall.config, data)
    _write_yaml(hall.sim_config, sim)
    load_site_config(hall.config)  # located errors here rather than in a child
    token = {"name": f"gateway {site}", "role": "gateway", "token_file": str(token_file), "sites": [site]}
    return hall, token


def _set_broker(path: Path, port: int) -> None:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["broker"] = {"host": "127.0.0.1", "port": port}
    _write_yaml(path, data)


class LoadTest:
    """Owns the run directory, the supervisor, the halls; runs the ramp."""

    def __init__(self, args: argparse.Namespace, run_dir: Path) -> None:
        self.args = args
        self.run_dir = run_dir
        self.sup = Supervisor(run_dir / "logs")
        self.hook: HookReceiver = start_hook()
        self.halls: list[Hall] = []
        self.active: list[Hall] = []
        self.kinds: dict[int, str] = {os.getpid(): "bench (fault publisher, webhook receiver)"}
        self.code = 0
        self.sent: dict[str, float] = {}
        first = load_site_config(EXAMPLES / TEMPLATES[0])
        tz = ZoneInfo(first.timezone)
        local = datetime.now(UTC).astimezone(tz)
        hh, mm = (int(p) for p in args.sim_start.split(":"))
        self.start_at = local.replace(hour=hh, minute=mm, second=0, microsecond=0).astimezone(UTC)
        origin = time.time()
        self.env = timeline_env(self.start_at, args.speed, origin)
        self.clock = SharedTimelineClock(self.start_at, args.speed, origin)

    # ----------------------------------------------------------------- start
    def start_central(self) -> None:
        influx = Influxd(self.run_dir / "influxdb")
        self.sup.add_service(influx)
        assert influx.proc is not None
        self.kinds[influx.proc.pid] = "influxd"
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        admin_file = _token(self.run_dir, "admin")
        self.admin = admin_file.read_text().strip()
        tokens: list[dict[str, Any]] = [
            {"name": "load admin", "role": "admin", "token_file": str(admin_file)}
        ]
        for i in range(self.args.max_halls):
            hall, token = write_hall(i, self.run_dir, base_url, self.hook.url)
            self.halls.append(hall)
            tokens.append(token)
        server_yaml = _write_yaml(
            self.run_dir / "server.yaml",
            {
                "config_version": 1,
                "listen": {"host": "127.0.0.1", "port": port},
                "sql_url": f"sqlite:///{self.run_dir / 'server.sqlite3'}",
                "influx": {"url": influx.url, "database": "lobbywatch"},
                "halls": [str(h.config) for h in self.halls],
                "bootstrap_tokens": tokens,
            },
        )
        self.base_url = base_url
        child = self.sup.lobbywatch("server", "server", "run", "--config", str(server_yaml), env=self.env)
        self.kinds[child.proc.pid] = "server"
        if not wait_until(self._server_up, SERVER_START_TIMEOUT_S, interval=0.5):
            raise RuntimeError(f"the server did not start:\n{self.sup.log_tail(child, 30)}")

    def _server_up(self) -> bool:
        import urllib.request

        server = self.sup.children[0]
        if server.proc.poll() is not None:
            raise RuntimeError(f"the server exited:\n{self.sup.log_tail(server, 30)}")
        req = urllib.request.Request(
            f"{self.base_url}/api/v1/sites", headers={"Authorization": f"Bearer {self.admin}"}
        )
        with urllib.request.urlopen(req, timeout=3) as resp:
            return bool(resp.status == 200)

    def add_hall(self, hall: Hall) -> None:
        broker = Mosquitto(self.run_dir / "mosquitto" / hall.site)
        self.sup.add_service(broker)
        assert broker.proc is not None
        self.kinds[broker.proc.pid] = "mosquitto"
        hall.broker = broker
        _set_broker(hall.config, broker.port)
        _set_broker(hall.sim_config, broker.port)
        gw = self.sup.lobbywatch(
            f"gateway-{hall.site}", "gateway", "run", "--config", str(hall.config), env=self.env
        )
        self.kinds[gw.proc.pid] = "gateway"
        sim = self.sup.lobbywatch(
            f"simulate-{hall.site}",
            "simulate", "hall",
            "--config", str(hall.sim_config),
            "--speed", repr(self.args.speed),
            "--scenario", self.args.scenario,
            "--seed", str(hall.index + 1),
            env=self.env,
        )  # fmt: skip
        self.kinds[sim.proc.pid] = "simulator"
        cfg = BrokerConfig(host="127.0.0.1", port=broker.port)
        hall.client = make_client(f"lw-load-faults-{hall.index}", cfg)
        connect_and_wait(hall.client, cfg)
        hall.stamper = Stamper(hall.site, BENCH_DEVICE, clock=self.clock, epoch=int(time.time()))
        self.active.append(hall)

    def wait_subscribed(self, halls: list[Hall], timeout: float) -> None:
        def ready() -> bool:
            for h in halls:
                health = gateway_health(h.health_port, timeout=2)
                if not health or not health.get("mqtt_subscribed"):
                    return False
            return True

        if not wait_until(ready, timeout, interval=0.5):
            raise RuntimeError("gateways did not subscribe in time; see " + str(self.sup.log_dir))

    # ----------------------------------------------------------------- measure
    def publish_fault(self, hall: Hall) -> None:
        assert hall.client is not None
        assert hall.stamper is not None
        code = f"BENCH_{len(self.sent):06d}"
        msg = hall.stamper.make(DeviceEvent, event="fault_raised", code=code, unusable=True)
        self.sent[code] = time.monotonic()
        publish(hall.client, msg)

    def rejected(self) -> int:
        """Messages the server rejected, over all gateways."""
        total = 0
        for h in self.active:
            health = gateway_health(h.health_port)
            total += int(health["rejected_by_server"]) if health else 0
        return total

    def totals(self) -> tuple[int, int, int, float]:
        """forwarded, received, backlog count (sums) and the oldest backlog age (max)."""
        fwd = rcv = backlog = 0
        age = 0.0
        for h in self.active:
            health = gateway_health(h.health_port)
            if health is None:
                continue
            fwd += int(health["forwarded"])
            rcv += int(health["received"])
            backlog += int(health["backlog"]["count"])
            # the gateway stamps and ages on the shared timeline: simulated seconds -> real
            age = max(age, float(health["backlog"]["oldest_age_s"]) / self.args.speed)
        return fwd, rcv, backlog, age

    def step(self, n: int) -> StepResult:
        new = self.halls[len(self.active) : n]
        for hall in new:
            self.add_hall(hall)
        self.wait_subscribed(new, 90.0)
        time.sleep(self.args.warmup)  # let the new simulators' first burst (births, states) drain
        meter = ProcessMeter()
        pids = {c.proc.pid: self.kinds.get(c.proc.pid, c.name) for c in self.sup.children}
        pids.update({s.proc.pid: self.kinds[s.proc.pid] for s in self.sup.services if s.proc})
        pids[os.getpid()] = self.kinds[os.getpid()]
        meter.start(pids)
        first_code = len(self.sent)
        t0 = time.monotonic()
        fwd0, rcv0, backlog0, age = self.totals()
        samples: list[tuple[float, float]] = [(0.0, float(backlog0))]
        max_age = age
        next_fault = t0 + 0.5
        next_sample = t0 + self.args.sample_every
        k = 0
        while (now := time.monotonic()) - t0 < self.args.step_seconds:
            if now >= next_fault:
                self.publish_fault(self.active[k % len(self.active)])
                k += 1
                next_fault += self.args.fault_every
            if now >= next_sample:
                _f, _r, backlog, age = self.totals()
                samples.append((time.monotonic() - t0, float(backlog)))
                max_age = max(max_age, age)
                next_sample += self.args.sample_every
            time.sleep(max(0.0, min(next_fault, next_sample) - time.monotonic()))
        fwd1, rcv1, backlog1, age = self.totals()
        elapsed = time.monotonic() - t0
        samples.append((elapsed, float(backlog1)))
        max_age = max(max_age, age)
        usage = meter.stop()
        codes = [f"BENCH_{i:06d}" for i in range(first_code, len(self.sent))]
        wait_until(lambda: all(self.hook.arrived(c) is not None for c in codes), self.args.alert_grace)
        lat: list[float] = []
        for c in codes:
            got = self.hook.arrived(c)
            if got is not None:
                lat.append((got - self.sent[c]) * 1000)
        result = StepResult(
            halls=n,
            seconds=elapsed,
            loadavg=os.getloadavg(),
            forwarded_per_s=(fwd1 - fwd0) / elapsed,
            received_per_s=(rcv1 - rcv0) / elapsed,
            backlog_start=backlog0,
            backlog_end=backlog1,
            backlog_slope_per_s=slope(samples),
            max_oldest_age_s=max_age,
            faults=len(codes),
            alerts=len(lat),
            latencies_ms=lat,
            usage=usage,
            dead=[c.name for c in self.sup.dead()],
            rejected=self.rejected(),
        )
        judge(result, self.args)
        return result

    def store_counts(self) -> dict[str, Any]:
        """What reached the stores: points per InfluxDB measurement, rows per non-empty SQL table."""
        import sqlite3

        out: dict[str, Any] = {"influx_points": {}, "sql_rows": {}}
        influx = next((s for s in self.sup.services if isinstance(s, Influxd)), None)
        if influx is not None and influx.running:
            try:
                shown: Any = influx.query("SHOW MEASUREMENTS", db="lobbywatch")
                series = shown["results"][0].get("series") or []
                names = [row[0] for row in series[0]["values"]] if series else []
                for name in names:
                    got: Any = influx.query(f'SELECT count(*) FROM "{name}"', db="lobbywatch")
                    rows = got["results"][0].get("series") or []
                    counts = [v for v in rows[0]["values"][0][1:] if isinstance(v, int)] if rows else []
                    out["influx_points"][name] = max(counts, default=0)
            except (OSError, ValueError, KeyError, IndexError) as exc:
                out["influx_error"] = str(exc)
        db = self.run_dir / "server.sqlite3"
        if db.exists():
            with sqlite3.connect(db) as conn:
                tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
                for table_name in tables:
                    n = conn.execute(f'SELECT count(*) FROM "{table_name}"').fetchone()[0]
                    if n:
                        out["sql_rows"][table_name] = int(n)
            conn.close()
        return out

    def stop(self) -> None:
        for hall in self.active:
            if hall.client is not None:
                hall.client.disconnect()
                hall.client.loop_stop()
        self.sup.stop_all(timeout=15.0)
        self.hook.stop()


def judge(r: StepResult, args: argparse.Namespace) -> None:
    """Decide whether the step was sustained; say why not."""
    growth_limit = max(2.0, 0.02 * r.received_per_s)
    if r.backlog_slope_per_s > growth_limit and r.backlog_end > max(args.backlog_floor, r.backlog_start):
        r.reasons.append(f"backlog grows {r.backlog_slope_per_s:.1f} msg/s (to {r.backlog_end})")
    if r.max_oldest_age_s > args.max_age:
        r.reasons.append(f"oldest outbox message waited {r.max_oldest_age_s:.1f} s")
    if r.faults and r.alerts < 0.9 * r.faults:
        r.reasons.append(f"only {r.alerts}/{r.faults} fault alerts arrived")
    if r.dead:
        r.reasons.append("exited: " + ", ".join(r.dead))
    r.sustained = not r.reasons


def table(results: list[StepResult], speed: float) -> str:
    """The human-readable report of the ramp."""
    head = (
        f"{'halls':>5} {'load1':>6} {'msg/s':>8} {'/srv CPU s':>10} {'per hall rt':>11} {'backlog':>13} "
        f"{'slope/s':>8} "
        f"{'age s':>6} {'alerts':>7} {'p50 ms':>7} {'p99 ms':>7}  sustained / 可持续"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        d = r.as_dict(speed)
        lines.append(
            f"{r.halls:>5} {r.loadavg[0]:>6.2f} {r.forwarded_per_s:>8.1f} {r.per_server_cpu_s() or 0:>10.0f} "
            f"{d['msgs_per_s_per_hall_real_time']:>11.2f} {f'{r.backlog_start}->{r.backlog_end}':>13} "
            f"{r.backlog_slope_per_s:>8.2f} {r.max_oldest_age_s:>6.1f} {f'{r.alerts}/{r.faults}':>7} "
            f"{d['alert_p50_ms'] or float('nan'):>7.0f} {d['alert_p99_ms'] or float('nan'):>7.0f}  "
            + ("yes / 是" if r.sustained else "NO / 否: " + "; ".join(r.reasons))
        )
    lines.append("")
    lines.append("CPU (% of one core) and RSS per component kind, per step")
    lines.append("各组件的 CPU（单核百分比）与内存，按阶段：")
    for r in results:
        parts = [f"{u.kind}: {u.processes}x {u.cpu_percent:.0f}% {u.rss_mb:.0f} MB" for u in r.usage]
        lines.append(f"  N={r.halls}: " + " | ".join(parts))
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--max-halls", type=int, default=8, help="Largest N of the ramp 1, 2, 4, ...")
    parser.add_argument("--step-seconds", type=float, default=30.0, help="Measured time per step.")
    parser.add_argument("--warmup", type=float, default=8.0, help="Seconds after adding halls, unmeasured.")
    parser.add_argument("--speed", type=float, default=30.0, help="Simulated seconds per real second.")
    parser.add_argument("--scenario", default="normal", help="Simulator scenario (normal, busy-morning).")
    parser.add_argument("--sim-start", default="09:50", help="Simulated start, HH:MM hall local time.")
    parser.add_argument("--fault-every", type=float, default=1.0, help="Seconds between injected faults.")
    parser.add_argument("--sample-every", type=float, default=2.0, help="Seconds between backlog samples.")
    parser.add_argument("--max-age", type=float, default=10.0, help="Oldest outbox message allowed (real s).")
    parser.add_argument("--backlog-floor", type=int, default=200, help="Backlog never counted as growth.")
    parser.add_argument("--alert-grace", type=float, default=10.0, help="Wait for late alerts (s).")
    parser.add_argument(
        "--ingest-baseline",
        type=float,
        default=None,
        help="Server-only ingest msg/s (bench/server_ingest.py) on this machine, for the ratio.",
    )
    parser.add_argument(
        "--ingest-baseline-cpu",
        type=float,
        default=None,
        help="Server-only ingest msg per server CPU second (bench/server_ingest.py), for the ratio.",
    )
    parser.add_argument("--keep", type=Path, default=None, help="Keep the run directory here (logs).")
    args = parser.parse_args(argv)
    if args.max_halls < 1 or args.step_seconds <= 0 or args.speed <= 0:
        parser.error("--max-halls must be >= 1; --step-seconds and --speed must be positive")
    try:
        hh, mm = (int(p) for p in args.sim_start.split(":"))
        if not (0 <= hh < 24 and 0 <= mm < 60):
            raise ValueError
    except ValueError:
        parser.error(f"--sim-start {args.sim_start!r} is not HH:MM")
    return args


def run(args: argparse.Namespace, run_dir: Path) -> dict[str, Any]:
    load_start = os.getloadavg()
    test = LoadTest(args, run_dir)
    results: list[StepResult] = []
    error: str | None = None
    started = time.monotonic()
    try:
        where = f"run directory / 运行目录 {run_dir}; load average / 负载 {load_start}"
        print(where, file=sys.stderr, flush=True)
        test.start_central()
        for n in ramp(args.max_halls):
            print(f"step: {n} hall(s) ... / 阶段：{n} 个营业厅 ……", file=sys.stderr, flush=True)
            result = test.step(n)
            results.append(result)
            print(json.dumps(result.as_dict(args.speed)), file=sys.stderr, flush=True)
            if not result.sustained:
                break
    except (RuntimeError, OSError) as exc:
        error = str(exc)
        print(f"error / 错误: {exc}", file=sys.stderr, flush=True)
    finally:
        stores = test.store_counts()
        test.stop()
    sustained = [r for r in results if r.sustained]
    best = max(sustained, key=lambda r: r.halls) if sustained else None
    summary: dict[str, Any] = {
        "bench": "system_load",
        "command": "python -m bench.system_load " + shlex.join(sys.argv[1:]),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "loadavg_start": [round(v, 2) for v in load_start],
        "loadavg_end": [round(v, 2) for v in os.getloadavg()],
        "speed": args.speed,
        "scenario": args.scenario,
        "sim_start": test.start_at.isoformat(),
        "wall_s": round(time.monotonic() - started, 1),
        "max_sustained_halls": best.halls if best else 0,
        "max_sustained_hall_equivalents": round(best.halls * args.speed, 1) if best else 0,
        "sustained_msgs_per_s": round(best.forwarded_per_s, 1) if best else None,
        "alert_p50_ms": best.as_dict(args.speed)["alert_p50_ms"] if best else None,
        "alert_p99_ms": best.as_dict(args.speed)["alert_p99_ms"] if best else None,
        "ingest_baseline_msgs_per_s": args.ingest_baseline,
        "ratio_to_ingest_baseline": (
            round(best.forwarded_per_s / args.ingest_baseline, 3) if best and args.ingest_baseline else None
        ),
        "sustained_msgs_per_server_cpu_s": best.per_server_cpu_s() if best else None,
        "ingest_baseline_cpu_msgs_per_cpu_s": args.ingest_baseline_cpu,
        "ratio_to_ingest_baseline_cpu": (
            round((best.per_server_cpu_s() or 0) / args.ingest_baseline_cpu, 3)
            if best and args.ingest_baseline_cpu
            else None
        ),
        "ramp_stopped_by": (results[-1].reasons if results and not results[-1].sustained else None),
        "error": error,
        "stores": stores,
        "steps": [r.as_dict(args.speed) for r in results],
    }
    print(table(results, args.speed))
    if error:
        summary["log_dir"] = str(test.sup.log_dir)
    return summary


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        summary = run(args, args.keep.resolve())
    else:
        with tempfile.TemporaryDirectory(prefix="lw-load-") as tmp:
            summary = run(args, Path(tmp))
    print(json.dumps(summary))
    return 1 if summary["error"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
