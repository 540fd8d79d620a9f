"""The distributed mode under failure, as real processes (issue 20, Deliver 4): a three-node NATS
cluster, PostgreSQL, influxd, two ingest replicas and two alert workers, each its own
``lobbywatch server run --roles ...`` process, and a gateway-like client that posts each batch
to the replicas in turn and resends it to the other one until answered (as the gateway does).

During a stream of zone states and device faults over four halls (one per partition), one NATS
node, one ingest replica and one worker are SIGKILLed. Then: every message is in SQL exactly
once (by site, source, epoch, seq) and every zone state is a point in InfluxDB; every fault
raised one ``device_fault`` alert row and one webhook notification, no more; the failover
times are printed (docs/distributed.md, "The failure test").

The replicas run ``--roles ingest,api,writer``: ingest stores the keys and the stream and
derives nothing, and the two writers share the stream as a work queue, so killing a replica
also kills a writer whose unacknowledged batches the other one writes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nats.js.errors
import pytest
import sqlalchemy as sa
import yaml
from nats.js import JetStreamContext

from lobbywatch import series
from lobbywatch.clock import SystemClock
from lobbywatch.protocol.codec import to_dict
from lobbywatch.protocol.enums import ZoneKind
from lobbywatch.protocol.messages import DeviceEvent, ZoneState
from lobbywatch.protocol.sequence import Stamper
from lobbywatch.services import Influxd, free_port, wait_until
from server.bus_jetstream import partition_of
from tests.helpers_nats import NatsCluster
from tests.server.alerts.helpers_hall import hall_dict
from tests.server.alerts.helpers_receivers import HttpReceiver, start_http
from tests.server.distributed.helpers_jetstream import ask_cluster

pytestmark = [pytest.mark.real, pytest.mark.slow]

STREAM = "LWFAIL"
PARTITIONS = 4
LEASE_TTL_S = 4
ROUNDS = 48  # batches per hall
ROUND_S = 0.2
FAULT_EVERY = 6  # rounds between two faults of a hall
KILL_NATS, KILL_REPLICA, KILL_WORKER = 10, 20, 30  # at these rounds
ADMIN_TOKEN = "lw_admin-failover-test"


@dataclass
class Proc:
    name: str
    base: str
    proc: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


@dataclass
class Estate:
    """The files of every process, started one by one (migrations and bootstrap run once)."""

    tmp: Path
    sites: list[str]
    config: dict[str, Any]
    procs: dict[str, Proc] = field(default_factory=dict)

    def spawn(self, name: str, roles: str, stack: ExitStack) -> Proc:
        port = free_port()
        cfg = self.tmp / f"{name}.yaml"
        cfg.write_text(yaml.safe_dump({**self.config, "listen": {"host": "127.0.0.1", "port": port}}))
        log = self.tmp / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [sys.executable, "-m", "system", "server", "run", "--config", str(cfg), "--roles", roles],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                cwd=self.tmp,
            )
        proc = Proc(name, f"http://127.0.0.1:{port}", popen, log)
        stack.callback(stop, proc)
        self.procs[name] = proc
        return proc

    @staticmethod
    def wait_up(*procs: Proc) -> None:
        for proc in procs:

            def up(proc: Proc = proc) -> bool:
                if proc.proc.poll() is not None:
                    raise AssertionError(f"{proc.name} exited:\n{proc.log.read_text()[-4000:]}")
                try:
                    return httpx.get(f"{proc.base}/healthz", timeout=1).status_code == 200
                except httpx.HTTPError:
                    return False

            assert wait_until(up, 90), proc.log.read_text()[-4000:]


def stop(proc: Proc) -> None:
    if proc.proc.poll() is None:
        proc.proc.terminate()
        try:
            proc.proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


class Gateway:
    """Posts each batch to the next replica, resending it to the others until one answers 200."""

    def __init__(self, replicas: list[Proc]) -> None:
        self.replicas = replicas
        self.turn = 0
        self.sent: list[tuple[str, str, int, int]] = []  # (site, source, epoch, seq) answered
        self.refused = 0
        self.slowest_s = 0.0

    def send(self, site: str, messages: list[dict[str, Any]]) -> float:
        """Until answered; returns the seconds it took."""
        body = {
            "gateway": f"gw-{site}",
            "site": site,
            "sent_at": SystemClock().now().isoformat(),
            "backlog": {"count": len(messages), "bytes": 100, "oldest_age_s": 0.1},
            "messages": messages,
        }
        auth = {"Authorization": f"Bearer {gateway_token(site)}"}
        started = time.monotonic()
        while time.monotonic() - started < 60:
            replica = self.replicas[self.turn % len(self.replicas)]
            self.turn += 1
            try:
                resp = httpx.post(f"{replica.base}/api/v1/ingest", json=body, headers=auth, timeout=15)
            except httpx.HTTPError:
                resp = None
            if resp is not None and resp.status_code == 200:
                took = time.monotonic() - started
                self.slowest_s = max(self.slowest_s, took)
                self.sent += [(site, m["source"], m["epoch"], m["seq"]) for m in messages]
                return took
            self.refused += 1
            time.sleep(0.1)
        raise AssertionError(f"a batch of {site} was never answered")


def gateway_token(site: str) -> str:
    return f"lw_gw-{site}-failover-test"


def halls_one_per_partition(site_id: str) -> list[str]:
    """Four site ids, one in each partition."""
    sites: dict[int, str] = {}
    for i in range(1000):
        site = f"{site_id}-{i}"
        sites.setdefault(partition_of(site, PARTITIONS), site)
        if len(sites) == PARTITIONS:
            return [sites[p] for p in range(PARTITIONS)]
    raise AssertionError("no site for some partition")


async def lease_holders(js: JetStreamContext) -> dict[int, str]:
    """Partition -> the holder written in its lease (``<host>-<pid>-<id>``)."""
    kv = await js.key_value(f"{STREAM}_LEASES")
    out: dict[int, str] = {}
    for p in range(PARTITIONS):
        try:
            entry = await kv.get(f"alerts.{p}")
        except nats.js.errors.KeyNotFoundError:
            continue
        if entry.value:
            out[p] = entry.value.decode()
    return out


def pid_of(holder: str) -> int:
    return int(holder.rsplit("-", 2)[1])


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    rec = start_http()
    try:
        yield rec
    finally:
        rec.server.shutdown()


def test_killing_a_nats_node_a_replica_and_a_worker_loses_and_repeats_nothing(
    tmp_path: Path,
    site_id: str,
    nats_cluster: NatsCluster,
    postgres_url: str,
    influxd: Influxd,
    influx_db: str,
    receiver: HttpReceiver,
) -> None:
    sites = halls_one_per_partition(site_id)
    halls = []
    for site in sites:
        notifications = {
            "channels": [{"name": "hook", "type": "webhook", "url": f"{receiver.url}/{site}"}],
            "routes": [{"kinds": ["device_fault"], "channels": ["hook"]}],
            "escalation": [],
        }
        path = tmp_path / f"{site}.yaml"
        path.write_text(yaml.safe_dump(hall_dict(site, notifications=notifications), allow_unicode=True))
        halls.append(path.name)
    (tmp_path / "admin.token").write_text(ADMIN_TOKEN + "\n")
    for site in sites:
        (tmp_path / f"gw-{site}.token").write_text(gateway_token(site) + "\n")
    config = {
        "sql_url": postgres_url,
        "influx": {"url": influxd.url, "database": influx_db, "flush_interval_s": 0.2},
        "ingest": {"prepare_workers": 0},
        "halls": halls,
        "bootstrap_tokens": [
            {"name": "ops", "role": "admin", "token_file": "admin.token"},
            *(
                {"name": f"gw-{s}", "role": "gateway", "token_file": f"gw-{s}.token", "sites": [s]}
                for s in sites
            ),
        ],
        "bus": {
            "kind": "jetstream",
            "servers": nats_cluster.urls,
            "stream": STREAM,
            "replicas": 3,
            "partitions": PARTITIONS,
            "lease_ttl_s": LEASE_TTL_S,
            "publish_timeout_s": 5,
        },
    }
    estate = Estate(tmp_path, sites, config)
    with ExitStack() as stack:
        first = estate.spawn("replica-a", "ingest,api,writer", stack)
        estate.wait_up(first)  # the schema, halls and tokens once; then the others at once
        replicas = [first, estate.spawn("replica-b", "ingest,api,writer", stack)]
        workers = [estate.spawn(n, "worker", stack) for n in ("worker-1", "worker-2")]
        estate.wait_up(*replicas, *workers)
        pids = {w.proc.pid: w for w in workers}

        def split(holders: dict[int, str]) -> bool:
            owners = Counter(pid_of(h) for h in holders.values())
            return sorted(owners.values()) == [2, 2] and set(owners) == set(pids)

        ask_cluster(nats_cluster, lease_holders, "leases split 2 and 2", until=split)
        gateway = Gateway(replicas)
        clock = SystemClock()
        cams = {s: Stamper(s, "cam-2", clock=clock) for s in sites}
        kiosks = {s: Stamper(s, "k1", clock=clock) for s in sites}
        faults: set[tuple[str, str]] = set()  # (site, alert subject) expected once
        zones: Counter[str] = Counter()
        times: dict[str, float] = {}
        probe: tuple[str, str] | None = None

        def notified() -> Counter[tuple[str, str]]:
            """(site, subject) -> the webhook notifications of that fault firing."""
            out: Counter[tuple[str, str]] = Counter()
            for site in sites:
                for r in receiver.on(f"/{site}"):
                    for a in r.json()["alerts"]:
                        if a["kind"] == "device_fault" and a["event"] == "fired":
                            out[(site, a["subject"])] += 1
            return out

        def watch_probe() -> None:  # when the fault raised as the worker died is notified
            while time.monotonic() - times["worker_killed"] < 90:
                if probe is not None and probe in notified():
                    times["worker_failover_s"] = time.monotonic() - times["worker_killed"]
                    return
                time.sleep(0.05)

        watch = threading.Thread(target=watch_probe, daemon=True)
        for rnd in range(ROUNDS):
            started = time.monotonic()
            if rnd == KILL_NATS:
                nats_cluster.nodes[1].kill()
                times["nats_killed"] = time.monotonic()
            if rnd == KILL_REPLICA:
                replicas[0].kill()
                times["replica_killed"] = time.monotonic()
            if rnd == KILL_WORKER:
                # Asked until the JetStream API answers: the NATS node's kill elects a new leader.
                holders = ask_cluster(
                    nats_cluster, lease_holders, "partition 0's lease", until=lambda h: 0 in h
                )
                victim = pids[pid_of(holders[0])]
                probe_site = sites[0]  # its partition (0) was the victim's
                victim.kill()
                times["worker_killed"] = time.monotonic()
                watch.start()
            for site in sites:
                i = rnd
                batch = [
                    to_dict(
                        cams[site].make(
                            ZoneState,
                            zone="queue-a",
                            kind=ZoneKind.QUEUE,
                            occupancy=float(i % 3),
                            count=i % 3,
                            queue_length=i % 3,
                            entered_total=i,
                            exited_total=0,
                        )
                    )
                ]
                zones[site] += 1
                fault_now = rnd % FAULT_EVERY == FAULT_EVERY - 1 or (rnd == KILL_WORKER and site == sites[0])
                if fault_now:
                    code = f"E{rnd:03d}"
                    batch.append(
                        to_dict(
                            kiosks[site].make(DeviceEvent, event="fault_raised", code=code, unusable=True)
                        )
                    )
                    faults.add((site, f"device:k1:{code}"))
                    if rnd == KILL_WORKER and site == sites[0]:
                        probe = (probe_site, f"device:k1:{code}")
                took = gateway.send(site, batch)
                if "replica_killed" in times and "replica_answer_s" not in times:
                    times["replica_answer_s"] = time.monotonic() - times["replica_killed"]
                if "nats_killed" in times and "nats_answer_s" not in times:
                    times["nats_answer_s"] = took
            time.sleep(max(0.0, ROUND_S - (time.monotonic() - started)))
        assert probe is not None

        # Every fault notified (the probe, raised just after the worker's death, by the survivor).
        watch.join(90)
        assert "worker_failover_s" in times, sorted(notified())
        assert wait_until(lambda: set(notified()) >= faults, 60), sorted(faults - set(notified()))
        time.sleep(2 * LEASE_TTL_S)  # room for a repeat to show up
        got = notified()
        assert set(got) == faults
        assert [k for k, n in got.items() if n > 1] == []  # each fault notified once

        db = sa.create_engine(postgres_url)
        with db.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT site, subject, count(*) FROM alerts WHERE kind = 'device_fault' GROUP BY 1, 2"
                )
            ).all()
            assert {(s, subj): n for s, subj, n in rows} == dict.fromkeys(faults, 1)
            stored = conn.execute(
                sa.text(
                    "SELECT site, source, epoch, seq, count(*) FROM received_messages GROUP BY 1, 2, 3, 4"
                )
            ).all()
        db.dispose()
        assert [r for r in stored if r[4] != 1] == []  # nothing twice
        assert {(r[0], r[1], int(r[2]), int(r[3])) for r in stored} == set(gateway.sent)  # nothing lost
        assert len(gateway.sent) == len(set(gateway.sent))

        def points() -> dict[str, int]:
            z = series.Zone
            res: Any = influxd.query(
                f'SELECT count("{z.OCCUPANCY}") FROM "{z.MEASUREMENT}" GROUP BY "{z.SITE}"', db=influx_db
            )
            found = res["results"][0].get("series", [])
            return {s["tags"][z.SITE]: int(s["values"][0][1]) for s in found}

        assert wait_until(lambda: points() == dict(zones), 30), (points(), dict(zones))
        survivor = next(w for w in workers if w.proc.poll() is None)
        holders = ask_cluster(nats_cluster, lease_holders, "the leases")
        assert sorted(holders) == list(range(PARTITIONS))
        assert {pid_of(h) for h in holders.values()} == {survivor.proc.pid}  # it took every partition
        print(
            "\nfailover: first batch answered {nats:.2f} s after the NATS node's kill, "
            "{rep:.2f} s after the replica's (gateway resends: {refused}); the fault raised at "
            "the worker's kill notified by the survivor after {worker:.2f} s (lease TTL {ttl} s); "
            "{n} messages, {f} faults, slowest batch {slow:.2f} s".format(
                nats=times["nats_answer_s"],
                rep=times["replica_answer_s"],
                refused=gateway.refused,
                worker=times["worker_failover_s"],
                ttl=LEASE_TTL_S,
                n=len(gateway.sent),
                f=len(faults),
                slow=gateway.slowest_s,
            )
        )
        print(json.dumps({k: round(v, 3) for k, v in times.items() if k.endswith("_s")}))
