"""Sustained ingest benchmark of the central server: realistic hall traffic, end to end.

Starts influxd and the server (``lobbywatch server run``, uvicorn, SQLite file) as their own
processes, then posts pre-built gateway batches from several client threads. Reports:

* ingest rate: messages answered ``accepted`` per second (stored in SQL with their
  idempotency keys, rollups, device episodes and the InfluxDB spool, one transaction per
  batch);
* end-to-end rate: until the last accepted line is written to InfluxDB (spool drained);
* a check that InfluxDB holds one ``zone`` point per accepted ``zone_state`` (InfluxQL).

Traffic per hall per simulated second: 10 ``zone_state`` (2 cameras x 5 zones, the 1/s
sample rate), plus a heartbeat from each of 7 devices every 30 s, a ``wait_record`` every
~6 s, a counter state change every ~20 s, and a camera status every 60 s.

    .venv/bin/python -m bench.server_ingest --halls 40 --seconds 300 --batch 500 --clients 4
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.proc import cpu_seconds, descendants  # noqa: E402
from lobbywatch.services import Influxd, free_port, wait_until  # noqa: E402

ZONES = [
    ("cam-entrance", "entrance", "entrance"),
    ("cam-entrance", "guide-desk", "consultation"),
    ("cam-entrance", "experience", "experience"),
    ("cam-entrance", "self-service", "self_service"),
    ("cam-counters", "queue-main", "queue"),
    ("cam-counters", "waiting", "waiting"),
    ("cam-counters", "counter-1", "counter"),
    ("cam-counters", "counter-2", "counter"),
    ("cam-counters", "counter-3", "counter"),
    ("cam-counters", "counter-4", "counter"),
]
DEVICES = ["kiosk-topup-1", "kiosk-bill-1", "kiosk-sim-1", "term-c1", "term-c2", "term-c3", "term-c4"]


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def hall_messages(site: str, start: datetime, seconds: int) -> list[dict[str, Any]]:
    seqs: dict[str, int] = {}
    entered: dict[str, int] = {}
    out: list[dict[str, Any]] = []

    def env(source: str, kind: str, t: datetime) -> dict[str, Any]:
        seq = seqs.get(source, 0)
        seqs[source] = seq + 1
        return {
            "v": 1,
            "type": kind,
            "id": uuid.uuid4().hex,
            "site": site,
            "source": source,
            "epoch": 0,
            "seq": seq,
            "ts": iso(t),
        }

    for s in range(seconds):
        t = start + timedelta(seconds=s)
        for i, (cam, zone, kind) in enumerate(ZONES):
            occ = float((s // 60 + i) % 7)
            msg = env(cam, "zone_state", t) | {
                "zone": zone,
                "kind": kind,
                "occupancy": occ,
                "count": int(occ),
            }
            if kind in ("queue", "waiting"):
                msg |= {"queue_length": int(occ), "expected_wait_s": occ * 60.0, "longest_wait_s": occ * 70.0}
            entered[zone] = entered.get(zone, 0) + (1 if (s + i) % 20 == 0 else 0)
            msg |= {"entered_total": entered[zone], "exited_total": max(0, entered[zone] - int(occ))}
            out.append(msg)
        if s % 30 == 0:
            for d in DEVICES:
                out.append(
                    env(d, "device_heartbeat", t)
                    | {"uptime_s": float(s), "interval_s": 30.0, "vitals": {"cpu_pct": 20.0}}
                )
        if s % 6 == 3:
            out.append(
                env("cam-counters", "wait_record", t)
                | {
                    "zone": "queue-main",
                    "kind": "wait",
                    "zone_kind": "queue",
                    "started": iso(t - timedelta(seconds=240)),
                    "ended": iso(t),
                    "duration_s": 240.0,
                    "outcome": "exited",
                }
            )
        if s % 20 == 7:
            c = (s // 20) % 4 + 1
            out.append(
                env(f"term-c{c}", "counter_state", t)
                | {"counter": f"c{c}", "state": ["serving", "standby", "learning", "away"][(s // 80) % 4]}
            )
        if s % 60 == 0:
            for cam in ("cam-entrance", "cam-counters"):
                out.append(env(cam, "camera_status", t) | {"state": "online", "fps": 8.0})
    return out


def write_config(
    tmp: Path, halls: int, influx_url: str, port: int, prepare_workers: int | None = None
) -> tuple[Path, dict[str, str]]:
    example = (ROOT / "deploy" / "examples" / "telecom-hall.yaml").read_text(encoding="utf-8")
    lines = []
    skip = False
    for line in example.splitlines():
        if line and not line.startswith((" ", "#")):
            skip = line.startswith("notifications:")
        if not skip:
            lines.append(line)
    base = "\n".join(lines) + "\n"
    tokens: dict[str, str] = {}
    hall_paths = []
    boot = []
    for h in range(halls):
        site = f"bench-{h:04d}"
        p = tmp / f"{site}.yaml"
        p.write_text(base.replace("site: sh-pudong-01", f"site: {site}"), encoding="utf-8")
        hall_paths.append(p.name)
        tok = f"lw_bench_{uuid.uuid4().hex}"
        tokens[site] = tok
        digest = hashlib.sha256(tok.encode()).hexdigest()
        boot.append(f"  - {{name: gw-{site}, role: gateway, sha256: {digest}, sites: [{site}]}}")
    admin = f"lw_admin_{uuid.uuid4().hex}"
    tokens["admin"] = admin
    boot.append(f"  - {{name: admin, role: admin, sha256: {hashlib.sha256(admin.encode()).hexdigest()}}}")
    cfg = tmp / "server.yaml"
    cfg.write_text(
        f"listen: {{host: 127.0.0.1, port: {port}}}\n"
        f"sql_url: sqlite:///server.sqlite3\n"
        f"influx: {{url: '{influx_url}', database: bench}}\n"
        f"halls: [{', '.join(hall_paths)}]\n"
        + ("" if prepare_workers is None else f"ingest: {{prepare_workers: {prepare_workers}}}\n")
        + "bootstrap_tokens:\n"
        + "\n".join(boot)
        + "\n",
        encoding="utf-8",
    )
    return cfg, tokens


def in_process(args: argparse.Namespace) -> dict[str, Any]:
    """The ingest pipeline alone (no HTTP, InfluxDB writing off): CPU cost per message."""
    from lobbywatch.clock import SystemClock
    from lobbywatch.protocol.ingest import IngestBatch
    from server.context import ServerContext
    from server.core.config import InfluxConfig, load_server_settings
    from server.ingest_prepare import prepare

    tmp = Path(tempfile.mkdtemp(prefix="lw-bench-"))
    cfg, _tokens = write_config(tmp, args.halls, "http://127.0.0.1:9", 1)
    loaded = load_server_settings(cfg)
    # Prepared here, in this process (timed separately): no helper processes.
    ingest = loaded.ingest.model_copy(update={"prepare_workers": 0})
    settings = loaded.model_copy(update={"influx": InfluxConfig(enabled=False), "ingest": ingest})
    ctx = ServerContext.build(settings, SystemClock(), with_alerts=args.alerts)
    ctx.start()
    batches = []
    start = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    for h in range(args.halls):
        site = f"bench-{h:04d}"
        msgs = hall_messages(site, start, args.seconds)
        for i in range(0, len(msgs), args.batch):
            batches.append(
                IngestBatch.model_validate(
                    {
                        "gateway": f"gw-{site}",
                        "site": site,
                        "sent_at": msgs[i]["ts"],
                        "backlog": {"count": 1, "bytes": 1, "oldest_age_s": 1.0},
                        "messages": msgs[i : i + args.batch],
                    }
                )
            )
    n = sum(len(b.messages) for b in batches)
    limits = ctx.registry.wait_limits()
    t0, c0 = time.perf_counter(), time.process_time()
    prepared = [prepare(b, limits, ctx.clock.now()) for b in batches]
    c1 = time.process_time()
    for p in prepared:
        ctx.pipeline.process(ctx.db, p)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    ctx.stop()
    if not args.keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "mode": "in-process pipeline" + (" + alert engine" if args.alerts else ""),
        "messages": n,
        "msg_per_s": round(n / wall),
        "msg_per_cpu_s": round(n / cpu),
        "prepare_us_per_msg": round((c1 - c0) / n * 1e6, 1),
        "process_us_per_msg": round((cpu - (c1 - c0)) / n * 1e6, 1),
        "load_average_1m": round(os.getloadavg()[0], 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--halls", type=int, default=40)
    ap.add_argument("--seconds", type=int, default=300, help="Simulated seconds of traffic per hall.")
    ap.add_argument("--batch", type=int, default=500, help="Messages per batch.")
    ap.add_argument("--clients", type=int, default=4, help="Concurrent posting threads (gateways).")
    ap.add_argument("--gzip", action="store_true", help="Send gzip-compressed batches.")
    ap.add_argument(
        "--prepare-workers",
        type=int,
        default=None,
        help="The server's ingest.prepare_workers (helper processes); default: the server's own choice.",
    )
    ap.add_argument("--keep", action="store_true", help="Keep the work directory.")
    ap.add_argument(
        "--in-process", action="store_true", help="Time the pipeline alone (no HTTP, no influxd)."
    )
    ap.add_argument("--alerts", action="store_true", help="With --in-process: run the alert engine too.")
    args = ap.parse_args()
    if args.in_process:
        print(json.dumps(in_process(args), indent=2))
        return

    tmp = Path(tempfile.mkdtemp(prefix="lw-bench-"))
    start = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    print(f"building traffic for {args.halls} halls x {args.seconds} s ...", file=sys.stderr)
    batches: list[tuple[str, bytes]] = []
    zone_states = 0
    total = 0
    for h in range(args.halls):
        site = f"bench-{h:04d}"
        msgs = hall_messages(site, start, args.seconds)
        zone_states += sum(1 for m in msgs if m["type"] == "zone_state")
        total += len(msgs)
        for i in range(0, len(msgs), args.batch):
            chunk = msgs[i : i + args.batch]
            body = json.dumps(
                {
                    "gateway": f"gw-{site}",
                    "site": site,
                    "sent_at": chunk[-1]["ts"],
                    "backlog": {"count": len(msgs) - i, "bytes": 300 * (len(msgs) - i), "oldest_age_s": 1.0},
                    "messages": chunk,
                }
            ).encode()
            batches.append((site, gzip.compress(body, 1) if args.gzip else body))
    # Interleave halls, as many gateways sending at once would.
    per_site: dict[str, list[bytes]] = {}
    for site, body in batches:
        per_site.setdefault(site, []).append(body)
    order: list[tuple[str, bytes]] = []
    while any(per_site.values()):
        for site in list(per_site):
            if per_site[site]:
                order.append((site, per_site[site].pop(0)))

    with Influxd(tmp / "influxd") as influx:
        port = free_port()
        cfg, tokens = write_config(tmp, args.halls, influx.url, port, args.prepare_workers)
        log = (tmp / "server.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "system", "server", "run", "--config", str(cfg)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        base = f"http://127.0.0.1:{port}"
        try:

            def up() -> bool:
                try:
                    return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
                except httpx.HTTPError:
                    return False

            if not wait_until(up, 120):
                raise SystemExit(f"server did not start:\n{(tmp / 'server.log').read_text()[-3000:]}")
            work: queue.Queue[tuple[str, bytes]] = queue.Queue()
            for item in order:
                work.put(item)
            accepted = 0
            retries = 0
            lock = threading.Lock()

            def client() -> None:
                nonlocal accepted, retries
                with httpx.Client(base_url=base, timeout=120) as c:
                    while True:
                        try:
                            site, body = work.get_nowait()
                        except queue.Empty:
                            return
                        headers = {
                            "Authorization": f"Bearer {tokens[site]}",
                            "Content-Type": "application/json",
                        }
                        if args.gzip:
                            headers["Content-Encoding"] = "gzip"
                        while True:
                            r = c.post("/api/v1/ingest", content=body, headers=headers)
                            if r.status_code == 200:
                                with lock:
                                    accepted += r.json()["accepted"]
                                break
                            with lock:
                                retries += 1
                            time.sleep(float(r.headers.get("retry-after", "1")))

            print(f"posting {total} messages in {len(order)} batches ...", file=sys.stderr)
            helpers = descendants(proc.pid)
            cpu0 = cpu_seconds(proc.pid)
            helper_cpu0 = sum(cpu_seconds(p) for p in helpers)
            influx_cpu0 = cpu_seconds(influx.proc.pid) if influx.proc else 0.0
            t0 = time.perf_counter()
            threads = [threading.Thread(target=client) for _ in range(args.clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            t_ingest = time.perf_counter() - t0
            admin = {"Authorization": f"Bearer {tokens['admin']}"}

            def drained() -> bool:
                s = httpx.get(f"{base}/api/v1/admin/status", headers=admin, timeout=10).json()
                return bool(s["influx"]["pending_lines"] == 0)

            wait_until(drained, 600, interval=0.05)
            t_total = time.perf_counter() - t0
            main_cpu = cpu_seconds(proc.pid) - cpu0
            helper_cpu = sum(cpu_seconds(p) for p in helpers) - helper_cpu0
            server_cpu = main_cpu + helper_cpu
            influx_cpu = (cpu_seconds(influx.proc.pid) if influx.proc else 0.0) - influx_cpu0
            load = os.getloadavg()[0]
            status = httpx.get(f"{base}/api/v1/admin/status", headers=admin, timeout=10).json()
            res: Any = influx.query("SELECT count(occupancy) FROM zone", db="bench")
            series = res["results"][0].get("series")
            influx_zone = series[0]["values"][0][1] if series else 0
        finally:
            proc.terminate()
            proc.wait(60)
            log.close()
    result = {
        "halls": args.halls,
        "messages": total,
        "accepted": accepted,
        "batches": len(order),
        "batch_size": args.batch,
        "clients": args.clients,
        "gzip": args.gzip,
        "prepare_workers": status["ingest"]["prepare_workers"],
        "ingest_s": round(t_ingest, 2),
        "ingest_msg_per_s": round(accepted / t_ingest),
        "end_to_end_s": round(t_total, 2),
        "end_to_end_msg_per_s": round(accepted / t_total),
        "influx_lines_written": status["influx"]["written_lines"],
        "influx_zone_points": influx_zone,
        "zone_states_sent": zone_states,
        "retries_503": retries,
        "server_cpu_s": round(server_cpu, 2),
        "server_main_process_cpu_s": round(main_cpu, 2),
        "prepare_helpers_cpu_s": round(helper_cpu, 2),
        "msg_per_server_cpu_s": round(accepted / server_cpu) if server_cpu else None,
        "influxd_cpu_s": round(influx_cpu, 2),
        "load_average_1m": round(load, 1),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))
    if not args.keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
