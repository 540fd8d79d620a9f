"""Measuring instruments of the system load test (``bench/system_load.py``).

* :class:`HookReceiver`: a local HTTP server standing for the alert webhook; it records when
  each fired alert arrived (monotonic clock of this process).
* :func:`gateway_health`: one gateway's ``/healthz`` JSON.
* :class:`ProcessMeter`: CPU percent and RSS per child process, grouped by component kind.
* :func:`slope` and :func:`percentile`: the statistics the report needs.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psutil  # type: ignore[import-untyped]


@dataclass
class HookReceiver:
    """Records, per fault code, the first time a ``fired`` alert for it arrived."""

    server: ThreadingHTTPServer
    fired: dict[str, float] = field(default_factory=dict)
    requests: int = 0
    bad: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def record(self, body: bytes, at: float) -> None:
        try:
            alerts = json.loads(body).get("alerts", [])
        except (ValueError, AttributeError):
            with self.lock:
                self.bad += 1
            return
        with self.lock:
            self.requests += 1
            for alert in alerts:
                code = (alert.get("params") or {}).get("code")
                if isinstance(code, str) and alert.get("event") == "fired":
                    self.fired.setdefault(code, at)

    def arrived(self, code: str) -> float | None:
        with self.lock:
            return self.fired.get(code)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_hook() -> HookReceiver:
    """Start the receiver on a free loopback port (daemon thread)."""
    holder: list[HookReceiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            at = time.monotonic()
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            holder[0].record(body, at)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    holder.append(HookReceiver(server))
    threading.Thread(target=server.serve_forever, name="hook", daemon=True).start()
    return holder[0]


def gateway_health(port: int, timeout: float = 3.0) -> dict[str, Any] | None:
    """The gateway's ``/healthz`` snapshot, or None when it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=timeout) as resp:
            data: dict[str, Any] = json.loads(resp.read())
            return data
    except (OSError, ValueError):
        return None


@dataclass
class KindUsage:
    """CPU and memory of every process of one component kind over a window."""

    kind: str
    processes: int
    cpu_percent: float  # sum over the processes; 100 = one core
    rss_mb: float  # sum over the processes

    def as_dict(self) -> dict[str, Any]:
        per = max(1, self.processes)
        return {
            "kind": self.kind,
            "processes": self.processes,
            "cpu_percent": round(self.cpu_percent, 1),
            "cpu_percent_each": round(self.cpu_percent / per, 1),
            "rss_mb": round(self.rss_mb, 1),
            "rss_mb_each": round(self.rss_mb / per, 1),
        }


class ProcessMeter:
    """CPU percent over a window (``start`` ... ``stop``) and RSS at its end, per kind.

    Child processes of a watched pid (e.g. a wrapper's interpreter) count with it.
    """

    def __init__(self) -> None:
        self._procs: list[tuple[str, Any]] = []

    def start(self, pids: dict[int, str]) -> None:
        self._procs = []
        for pid, kind in pids.items():
            try:
                proc = psutil.Process(pid)
                # grandchildren count with their parent unless watched under their own kind
                family = [proc, *(c for c in proc.children(recursive=True) if c.pid not in pids)]
            except psutil.Error:
                continue
            for p in family:
                try:
                    p.cpu_percent(None)  # prime: the next call measures from here
                except psutil.Error:
                    continue
                self._procs.append((kind, p))

    def stop(self) -> list[KindUsage]:
        cpu: dict[str, float] = defaultdict(float)
        rss: dict[str, float] = defaultdict(float)
        count: dict[str, int] = defaultdict(int)
        for kind, p in self._procs:
            try:
                cpu[kind] += float(p.cpu_percent(None))
                rss[kind] += float(p.memory_info().rss) / 2**20
                count[kind] += 1
            except psutil.Error:
                continue
        return [KindUsage(k, count[k], cpu[k], rss[k]) for k in sorted(count)]


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of ``y`` over ``x`` (0 for fewer than two distinct x)."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    if var == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in points) / var


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile ``q`` (0-100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


__all__ = [
    "HookReceiver",
    "KindUsage",
    "ProcessMeter",
    "gateway_health",
    "percentile",
    "slope",
    "start_hook",
]
