"""Sizing the distributed mode (issue 20, item 5): messages per CPU-second per role, each
against the single process in the same run, the traffic a hall makes, and a sizing model for
100, 1,000 and 10,000 halls. Prints a JSON, then a table. Method and figures:
docs/benchmarks.md ("Distributed sizing") and docs/deploy.md ("Sizing the distributed mode").

* **Traffic**: the lobby simulator (:class:`edge.simulate.hall.HallSimulator`) runs
  ``--halls`` copies of the example telecom hall, busy-morning from 10:00 local on a working
  day (the day's peak) and normal from 22:00 (closed), ``--minutes`` each; the messages are
  cut into gateway batches as the gateway does (a batch leaves ``batch_age_s`` after its first message). The
  peak traffic then goes through the single process's ingest (``ServerContext``, in-process
  bus, SQLite): InfluxDB lines, series, line bytes and SQL rows per message.
* **Ingest replica**: :func:`bench.bus_jetstream.run` (in-process bus against JetStream, the
  hall traffic of :mod:`bench.server_ingest`), at catch-up batches (``--batch``) and at the
  steady-state batch size the simulator gave.
* **Writer**: each message's InfluxDB lines (:func:`server.timeseries.lines.message_lines`)
  into an :class:`InfluxWriter` (its SQLite spool) written to a real influxd, fed by the
  in-process bus (the single process) against a JetStream durable consumer (the writer role);
  influxd's own CPU is measured too.
* **Alert worker**: :class:`HallState` plus :meth:`AlertService.on_batch` (and the engine's
  tick once per simulated second) on the simulator's batches, fed in process against a
  JetStream durable consumer; nats-server's CPU over the store and the two consumers.

Until the roles' own code paths land (``server run --roles writer`` / ``worker``), the writer
and worker are these in-process classes behind a JetStream consumer: the model of the role.

    .venv/bin/python -m bench.distributed_sizing --halls 10 --minutes 10
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import shutil
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bus_jetstream import consume  # noqa: E402
from bench.bus_jetstream import run as ingest_replica  # noqa: E402
from bench.proc import cpu_seconds  # noqa: E402
from bench.server_ingest import write_config  # noqa: E402
from edge.simulate.hall import HallSimulator  # noqa: E402
from edge.simulate.scenario import SCENARIOS  # noqa: E402
from lobbywatch.clock import FixedClock, SystemClock  # noqa: E402
from lobbywatch.config.site import GatewayConfig, SiteConfig, load_site_config  # noqa: E402
from lobbywatch.protocol.codec import to_dict  # noqa: E402
from lobbywatch.protocol.ingest import Backlog, IngestBatch  # noqa: E402
from lobbywatch.protocol.messages import Envelope  # noqa: E402
from lobbywatch.services import Influxd, NatsServer  # noqa: E402
from server.alerts.service import AlertService  # noqa: E402
from server.alerts.store import MemoryAlertStore  # noqa: E402
from server.bus import IngestContext, InProcessBus, Subscriber  # noqa: E402
from server.bus_jetstream import JetStreamBus  # noqa: E402
from server.context import ServerContext  # noqa: E402
from server.core.config import BusConfig, InfluxConfig, load_server_settings  # noqa: E402
from server.hall_state import HallState  # noqa: E402
from server.ingest_prepare import prepare  # noqa: E402
from server.storage.db import Database, run_migrations  # noqa: E402
from server.storage.models import Base, InfluxSpool  # noqa: E402
from server.timeseries.lines import message_lines  # noqa: E402
from server.timeseries.writer import InfluxWriter  # noqa: E402

#: Plan each role at half of what one core measured (2x headroom for peaks, HTTP/TLS and the
#: API's page traffic, which no role figure includes).
HEADROOM = 2.0
SIZES = (100, 1_000, 10_000)
#: Compressed InfluxDB TSM bytes per field value (regular timestamps, float/int fields):
#: an assumption, the short runs here do not compact.
TSM_BYTES_PER_VALUE = 3.0
#: Connections one server process may open: SQLAlchemy's pool_size 10 + max_overflow 10.
PG_CONNECTIONS_PER_PROCESS = 20
DAY = 86_400
#: The gateway's defaults: a batch leaves this long after its first message, or when full.
BATCH_AGE_S: float = GatewayConfig.model_fields["batch_age_s"].default
BATCH_MAX: int = GatewayConfig.model_fields["batch_max"].default
_UNESCAPED_SPACE = re.compile(r"(?<!\\) ")
_UNESCAPED_COMMA = re.compile(r"(?<!\\),")


@dataclass(frozen=True)
class Batch:
    """One gateway batch as the server's bus carries it."""

    messages: list[Envelope]
    ctx: IngestContext


# ----------------------------------------------------------------------------- traffic


def simulate(site: SiteConfig, start: datetime, scenario: str, seconds: int, seed: int) -> list[Envelope]:
    """The messages one simulated hall publishes over ``seconds`` from ``start``."""
    clock = FixedClock(start)
    sim = HallSimulator(site, clock, random.Random(seed), SCENARIOS[scenario])
    out = list(sim.start())
    for _ in range(seconds):
        clock.advance(1.0)
        out += sim.step()
    return out


def gateway_batches(site: str, messages: list[Envelope]) -> list[Batch]:
    """Cut one hall's messages as its gateway does: a batch leaves ``batch_age_s`` after its
    first message (or when it holds ``batch_max``)."""
    out: list[Batch] = []
    current: list[Envelope] = []

    def close() -> None:
        received = current[0].ts + timedelta(seconds=BATCH_AGE_S)
        ctx = IngestContext(
            site, f"gw-{site}", received, Backlog(count=len(current), bytes=1, oldest_age_s=0.2)
        )
        out.append(Batch(list(current), ctx))
        current.clear()

    for m in messages:
        if current and ((m.ts - current[0].ts).total_seconds() >= BATCH_AGE_S or len(current) >= BATCH_MAX):
            close()
        current.append(m)
    if current:
        close()
    return out


def hall_traffic(hall_files: list[Path], day: date, seconds: int) -> tuple[list[Batch], dict[str, Any]]:
    """Every hall's peak batches in arrival order, and the traffic per hall (peak and closed)."""
    peak: list[Batch] = []
    counts: dict[str, Counter[str]] = {"peak": Counter(), "closed": Counter()}
    batches = {"peak": 0, "closed": 0}
    for i, path in enumerate(hall_files):
        site = load_site_config(path)
        for label, scenario, local_hour in (("peak", "busy-morning", 10), ("closed", "normal", 22)):
            start = datetime(day.year, day.month, day.day, local_hour, tzinfo=ZoneInfo(site.timezone))
            msgs = simulate(site, start, scenario, seconds, seed=i + 1)
            counts[label].update(m.type for m in msgs)
            cut = gateway_batches(site.site, msgs)
            batches[label] += len(cut)
            if label == "peak":
                peak += cut
    peak.sort(key=lambda b: b.ctx.received_at)
    hall_s = len(hall_files) * seconds
    traffic: dict[str, Any] = {}
    for label in ("peak", "closed"):
        total = sum(counts[label].values())
        traffic[label] = {
            "msg_per_hall_s": round(total / hall_s, 3),
            "batches_per_hall_s": round(batches[label] / hall_s, 3),
            "msg_per_batch": round(total / batches[label], 2),
            "by_type_per_hall_s": {k: round(v / hall_s, 4) for k, v in sorted(counts[label].items())},
        }
    traffic["msg_per_hall_day"] = round(traffic["peak"]["msg_per_hall_s"] * DAY)
    return peak, traffic


# ----------------------------------------------------------------------------- footprint


def ingest_footprint(cfg_path: Path, tmp: Path, batches: list[Batch], halls: int) -> dict[str, Any]:
    """The peak batches through the single process's ingest: lines, series and rows they make
    (rows counted over the second half, past the rows each source makes once)."""
    import sqlalchemy as sa

    loaded = load_server_settings(cfg_path)
    settings = loaded.model_copy(
        update={
            "sql_url": f"sqlite:///{tmp / 'footprint.sqlite3'}",
            "influx": InfluxConfig(enabled=False),
            "ingest": loaded.ingest.model_copy(update={"prepare_workers": 0}),
        }
    )
    clock = FixedClock(batches[0].ctx.received_at)
    ctx = ServerContext.build(settings, clock, with_alerts=False)
    ctx.start()

    def rows() -> dict[str, int]:
        with ctx.db.engine.connect() as conn:
            return {
                t.name: int(conn.scalar(sa.select(sa.func.count()).select_from(t)) or 0)
                for t in Base.metadata.sorted_tables
            }

    try:
        limits = ctx.registry.wait_limits()
        accepted = 0
        half = len(batches) // 2
        before: dict[str, int] = {}
        for i, b in enumerate(batches):
            if i == half:  # rows a source makes once (its first sight) are behind us
                before = rows()
            clock.set(b.ctx.received_at)
            body = IngestBatch.model_validate(
                {
                    "gateway": b.ctx.gateway,
                    "site": b.ctx.site,
                    "sent_at": b.ctx.received_at.isoformat(),
                    "backlog": b.ctx.backlog.model_dump() if b.ctx.backlog else None,
                    "messages": [to_dict(m) for m in b.messages],
                }
            )
            accepted += ctx.pipeline.process(ctx.db, prepare(body, limits, clock.now())).accepted
        after = rows()
        with ctx.db.session() as session:
            lines = "\n".join(session.scalars(sa.select(InfluxSpool.body))).splitlines()
        dedup_days = settings.ingest.dedup_retention_days
    finally:
        ctx.stop()
    series = {_UNESCAPED_SPACE.split(line, 1)[0] for line in lines}
    fields = sum(len(_UNESCAPED_COMMA.split(_UNESCAPED_SPACE.split(line)[1])) for line in lines)
    grown = {
        k: after[k] - before[k] for k in after if after[k] > before[k] and k != InfluxSpool.__tablename__
    }
    span_s = (batches[-1].ctx.received_at - batches[half].ctx.received_at).total_seconds()
    return {
        "accepted": accepted,
        "influx_lines_per_msg": round(len(lines) / accepted, 3),
        "influx_fields_per_line": round(fields / len(lines), 2),
        "influx_bytes_per_line": round(sum(len(x) + 1 for x in lines) / len(lines), 1),
        "influx_series_per_hall": round(len(series) / halls, 1),
        "sql_rows_per_hall_day": {k: round(v / (halls * span_s) * DAY) for k, v in sorted(grown.items())},
        "sql_dedup_retention_days": dedup_days,
    }


# ----------------------------------------------------------------------------- roles


def feed_in_process(batches: list[Batch], deliver: Subscriber) -> dict[str, Any]:
    """The single process: the in-process bus calls ``deliver`` for every batch."""
    bus = InProcessBus()
    bus.subscribe(deliver)
    t0, c0 = time.perf_counter(), time.process_time()
    for b in batches:
        bus.publish(b.messages, b.ctx)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if bus.errors:
        raise SystemExit(f"{bus.errors} batches failed in the subscriber (see the log)")
    n = sum(len(b.messages) for b in batches)
    return {
        "messages": n,
        "cpu_s": round(cpu, 3),
        "msg_per_cpu_s": round(n / cpu),
        "msg_per_s": round(n / wall),
    }


def _ratio(distributed: dict[str, Any], single: dict[str, Any]) -> float:
    return round(float(distributed["msg_per_cpu_s"]) / float(single["msg_per_cpu_s"]), 3)


def writer_role(batches: list[Batch], cfg: BusConfig, influx: Influxd, tmp: Path) -> dict[str, Any]:
    """Message lines into an InfluxWriter written to influxd: in process, then from JetStream."""
    out: dict[str, Any] = {}
    for mode in ("inprocess", "jetstream"):
        db = Database(f"sqlite:///{tmp / f'writer-{mode}.sqlite3'}")
        run_migrations(db)
        name = f"bench_{mode}"
        writer = InfluxWriter(db, InfluxConfig(url=influx.url, database=name), SystemClock())
        writer.start()

        def write(messages: Sequence[Envelope], _ctx: IngestContext, writer: InfluxWriter = writer) -> None:
            writer.enqueue([line for m in messages for line in message_lines(m)])

        assert influx.proc is not None
        influx_cpu0 = cpu_seconds(influx.proc.pid)
        fed = feed_in_process(batches, write) if mode == "inprocess" else consume(cfg, len(batches), write)
        c0 = time.process_time()
        if not writer.flush(120):
            raise SystemExit(f"the {mode} writer did not drain its spool")
        fed["cpu_s"] = round(fed["cpu_s"] + time.process_time() - c0, 3)
        fed["msg_per_cpu_s"] = round(fed["messages"] / fed["cpu_s"])
        lines = writer.stats.written_lines
        fed["lines_written"] = lines
        fed["influxd_cpu_s"] = round(cpu_seconds(influx.proc.pid) - influx_cpu0, 3)
        fed["influxd_points_per_cpu_s"] = round(lines / max(fed["influxd_cpu_s"], 1e-3))
        writer.stop()
        db.engine.dispose()
        out[mode] = fed
    out["ratio"] = _ratio(out["jetstream"], out["inprocess"])
    return out


def worker_role(batches: list[Batch], sites: list[SiteConfig], cfg: BusConfig) -> dict[str, Any]:
    """Hall state and the alert engine on every batch: in process, then from JetStream."""
    out: dict[str, Any] = {}
    for mode in ("inprocess", "jetstream"):
        clock = FixedClock(batches[0].ctx.received_at)
        hall = HallState(clock, {s.site: s for s in sites})
        service = AlertService(sites, clock=clock, store=MemoryAlertStore(), hall=hall)
        ticked: list[datetime] = [clock.now()]

        def evaluate(
            messages: Sequence[Envelope],
            ctx: IngestContext,
            clock: FixedClock = clock,
            hall: HallState = hall,
            service: AlertService = service,
            ticked: list[datetime] = ticked,
        ) -> None:
            clock.set(max(clock.now(), ctx.received_at))
            for m in messages:
                hall.apply(m)
            service.on_batch(messages, ctx)
            if (clock.now() - ticked[0]).total_seconds() >= 1.0:
                ticked[0] = clock.now()
                service.engine.tick()

        fed = (
            feed_in_process(batches, evaluate)
            if mode == "inprocess"
            else consume(cfg, len(batches), evaluate)
        )
        fed["open_alerts"] = len(service.store.open_alerts())
        out[mode] = fed
    out["ratio"] = _ratio(out["jetstream"], out["inprocess"])
    return out


def store_batches(batches: list[Batch], cfg: BusConfig, nats: NatsServer) -> dict[str, Any]:
    """Store the batches in the stream as ingest does; bytes and nats-server CPU for it."""
    bus = JetStreamBus(cfg.model_copy(update={"consumer": f"bench-store-{uuid.uuid4().hex[:6]}"}))
    before = _jetstream_bytes(nats)
    bus.start()
    try:
        for b in batches:
            bus.store(b.messages, b.ctx)
    finally:
        bus.stop()
    n = sum(len(b.messages) for b in batches)
    return {"batches": len(batches), "bytes_per_msg": round((_jetstream_bytes(nats) - before) / n, 1)}


def _jetstream_bytes(nats: NatsServer) -> int:
    with urllib.request.urlopen(f"{nats.monitor_url}/jsz", timeout=5) as resp:
        return int(json.load(resp)["storage"])


# ----------------------------------------------------------------------------- model


def model(
    traffic: dict[str, Any], footprint: dict[str, Any], roles: dict[str, Any], nats: dict[str, Any]
) -> list[dict[str, Any]]:
    """Cores per role, NATS, InfluxDB and PostgreSQL for each size in :data:`SIZES`."""
    rate = traffic["peak"]["msg_per_hall_s"]
    per_cpu = {
        "ingest": roles["ingest_steady"]["jetstream_with_prepare_msg_per_cpu_s"],
        "writer": roles["writer"]["jetstream"]["msg_per_cpu_s"],
        "worker": roles["worker"]["jetstream"]["msg_per_cpu_s"],
        "single": roles["single_process_msg_per_cpu_s"],
    }
    rows: list[dict[str, Any]] = []
    for halls in SIZES:
        msgs = halls * rate
        cores = {role: round(msgs / v * HEADROOM, 2) for role, v in per_cpu.items()}
        replicas = {
            "ingest": max(2, math.ceil(cores["ingest"])),
            "writer": max(1, math.ceil(cores["writer"])),
            "worker": max(2, math.ceil(cores["worker"])),
        }
        per_day = msgs * DAY
        points = msgs * footprint["influx_lines_per_msg"]
        processes = sum(replicas.values())
        rows.append(
            {
                "halls": halls,
                "msg_per_s": round(msgs),
                "msg_per_day": round(per_day),
                "cores": cores,
                "replicas": replicas,
                "nats_gb_per_day": round(per_day * nats["bytes_per_msg"] / 1e9, 2),
                "nats_gb_per_node_7d": round(per_day * nats["bytes_per_msg"] * 7 / 1e9, 1),
                "influx_points_per_s": round(points),
                "influx_series": round(halls * footprint["influx_series_per_hall"]),
                "influx_gb_per_day_line_protocol": round(
                    points * DAY * footprint["influx_bytes_per_line"] / 1e9, 2
                ),
                "influx_gb_per_day_compacted": round(
                    points * DAY * footprint["influx_fields_per_line"] * TSM_BYTES_PER_VALUE / 1e9, 2
                ),
                "pg_rows_per_day": {k: v * halls for k, v in footprint["sql_rows_per_hall_day"].items()},
                "pg_connections": processes * PG_CONNECTIONS_PER_PROCESS,
            }
        )
    return rows


def table(result: dict[str, Any]) -> str:
    """The figures as a text table."""
    t = result["traffic"]
    r = result["roles"]
    lines = [
        f"traffic per hall: peak {t['peak']['msg_per_hall_s']} msg/s in "
        f"{t['peak']['batches_per_hall_s']} batches/s, closed {t['closed']['msg_per_hall_s']} msg/s; "
        f"{t['msg_per_hall_day']:,} msg/day (peak all day)",
        "",
        f"{'role':<28}{'single msg/CPU-s':>18}{'distributed':>14}{'ratio':>8}",
    ]
    for label, key in (
        ("ingest, catch-up batches", "ingest_catchup"),
        ("ingest, steady batches", "ingest_steady"),
    ):
        x = r[key]
        lines.append(
            f"{label:<28}{x['inprocess']['msg_per_cpu_s']:>18,}{x['jetstream']['msg_per_cpu_s']:>14,}{x['ratio']:>8}"
        )
    for label, key in (("writer", "writer"), ("alert worker", "worker")):
        x = r[key]
        lines.append(
            f"{label:<28}{x['inprocess']['msg_per_cpu_s']:>18,}{x['jetstream']['msg_per_cpu_s']:>14,}{x['ratio']:>8}"
        )
    lines += [
        "",
        f"{'halls':>7}{'msg/s':>9}{'ingest':>8}{'writer':>8}{'worker':>8}{'NATS GB/d':>11}"
        f"{'points/s':>10}{'series':>9}{'Influx GB/d':>13}{'PG conns':>10}",
    ]
    for s in result["sizing"]:
        c = s["cores"]
        lines.append(
            f"{s['halls']:>7,}{s['msg_per_s']:>9,}{c['ingest']:>8}{c['writer']:>8}{c['worker']:>8}"
            f"{s['nats_gb_per_day']:>11}{s['influx_points_per_s']:>10,}{s['influx_series']:>9,}"
            f"{s['influx_gb_per_day_compacted']:>13}{s['pg_connections']:>10}"
        )
    lines.append(
        f"cores at {HEADROOM:g}x headroom; ingest is the pipeline and prepare without the HTTP request "
        "(docs/deploy.md adds it from bench/server_ingest.py)"
    )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--halls", type=int, default=10, help="Simulated halls (copies of the telecom hall).")
    ap.add_argument(
        "--minutes", type=int, default=10, help="Simulated minutes per hall, at the peak and closed."
    )
    ap.add_argument(
        "--seconds", type=int, default=120, help="Ingest replica: seconds of dense hall traffic per hall."
    )
    ap.add_argument("--batch", type=int, default=500, help="Ingest replica: messages per catch-up batch.")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lw-bench-sizing-"))
    try:
        cfg_path, _tokens = write_config(tmp, args.halls, "http://127.0.0.1:9", 1)
        hall_files = sorted(tmp.glob("bench-*.yaml"))
        sites = [load_site_config(p) for p in hall_files]
        seconds = args.minutes * 60
        day = (datetime.now(UTC) - timedelta(days=2)).date()  # local 22:00 is in the past
        while day.weekday() >= 5:  # a working day (the example halls open later at weekends)
            day -= timedelta(days=1)
        batches, traffic = hall_traffic(hall_files, day, seconds)
        footprint = ingest_footprint(cfg_path, tmp, batches, args.halls)
        steady = max(1, round(traffic["peak"]["msg_per_batch"]))
        with NatsServer(tmp / "nats") as nats, Influxd(tmp / "influxd") as influx:
            name = f"SIZING{uuid.uuid4().hex[:8]}"
            jetstream = BusConfig(kind="jetstream", servers=[nats.url], stream=name, subject_prefix=name)
            roles: dict[str, Any] = {}
            for key, batch in (("ingest_catchup", args.batch), ("ingest_steady", steady)):
                ns = argparse.Namespace(halls=args.halls, seconds=args.seconds, batch=batch)
                single = ingest_replica(ns, BusConfig())
                own = f"{name}B{batch}"  # a stream of its own per batch size
                distributed = ingest_replica(
                    ns, jetstream.model_copy(update={"stream": own, "subject_prefix": own})
                )
                roles[key] = {
                    "batch": batch,
                    "inprocess": single,
                    "jetstream": distributed,
                    "ratio": _ratio(distributed, single),
                    "jetstream_with_prepare_msg_per_cpu_s": round(
                        distributed["accepted"] / (distributed["cpu_s"] + distributed["prepare_cpu_s"])
                    ),
                }
            nats_cpu0 = cpu_seconds(nats.proc.pid) if nats.proc else 0.0
            stored = store_batches(batches, jetstream, nats)
            roles["writer"] = writer_role(batches, jetstream, influx, tmp)
            roles["worker"] = worker_role(batches, sites, jetstream)
            nats_cpu = (cpu_seconds(nats.proc.pid) if nats.proc else 0.0) - nats_cpu0
        n = footprint["accepted"]
        stored["nats_cpu_s"] = round(nats_cpu, 3)
        # Stored once, read by two consumers (writer, worker): the server's CPU per message so.
        stored["msg_per_nats_cpu_s"] = round(n / max(nats_cpu, 1e-3))
        ingest = roles["ingest_steady"]
        single_us = 1e6 * (
            (ingest["inprocess"]["cpu_s"] + ingest["inprocess"]["prepare_cpu_s"])
            / ingest["inprocess"]["accepted"]
            + 1 / roles["writer"]["inprocess"]["msg_per_cpu_s"]
            + 1 / roles["worker"]["inprocess"]["msg_per_cpu_s"]
        )
        roles["single_process_msg_per_cpu_s"] = round(1e6 / single_us)
        result = {
            "halls": args.halls,
            "minutes": args.minutes,
            "traffic": traffic,
            "footprint": footprint,
            "nats": stored,
            "roles": roles,
            "headroom": HEADROOM,
            "sizing": [],
        }
        result["sizing"] = model(traffic, footprint, roles, stored)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(result, indent=2))
    print(table(result))


if __name__ == "__main__":
    main()
