"""The JetStream bus's pure parts: partitions, a batch as stream messages and back (a counter
state set by hand too), the consumer's filter of recently delivered keys; and the bus
setting's defaults and bounds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from nats.aio.msg import Msg
from pydantic import ValidationError

from lobbywatch.clock import FixedClock
from lobbywatch.protocol.enums import CounterStatus
from lobbywatch.protocol.ingest import Backlog
from lobbywatch.protocol.messages import CounterState, DeviceEvent, Envelope
from lobbywatch.protocol.sequence import Stamper
from lobbywatch.services import free_port
from server.bus import BusUnavailable, IngestContext, InProcessBus, build_bus
from server.bus_jetstream import JetStreamBus, RecentKeys, batch_messages, decode_batch, partition_of
from server.bus_partitions import Partitions, Snapshot
from server.core.config import BusConfig, ServerSettings

CTX_TIME = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)


def events(clock: FixedClock, n: int, source: str = "kiosk-1") -> list[Envelope]:
    st = Stamper("hall-1", source, clock=clock)
    return [st.make(DeviceEvent, event="fault_raised", code="PRN_OUT", unusable=True) for _ in range(n)]


def as_msg(subject: str, payload: bytes, headers: dict[str, str]) -> Msg:
    return Msg(_client=None, subject=subject, data=payload, headers=headers)  # type: ignore[arg-type]


def test_partitions_are_stable_and_in_range() -> None:
    sites = [f"hall-{i:03d}" for i in range(200)]
    parts = [partition_of(s, 16) for s in sites]
    assert parts == [partition_of(s, 16) for s in sites]
    assert set(parts) == set(range(16))  # 200 sites cover every partition


def test_a_batch_round_trips_and_splits_past_the_payload_limit(clock: FixedClock) -> None:
    cfg = BusConfig(kind="jetstream", partitions=8)
    ctx = IngestContext("hall-1", "gw-1", CTX_TIME, Backlog(count=3, bytes=10, oldest_age_s=0.5))
    msgs = events(clock, 30)
    (one,) = batch_messages(cfg, msgs, ctx, 1 << 20)
    assert one[0] == f"lw.batch.{partition_of('hall-1', 8)}.hall-1"
    assert batch_messages(cfg, msgs, ctx, 1 << 20)[0][2]["Nats-Msg-Id"] == one[2]["Nats-Msg-Id"]
    parts = batch_messages(cfg, msgs, ctx, 2000)
    assert len(parts) > 1
    assert all(len(p) <= 2000 for _s, p, _h in parts)
    assert len({h["Nats-Msg-Id"] for _s, _p, h in parts}) == len(parts)
    recent = RecentKeys()
    decoded = [decode_batch(as_msg(*part), recent) for part in parts]
    assert [m.id for ms, _c in decoded for m in ms] == [m.id for m in msgs]  # order kept
    assert all(c == ctx for _m, c in decoded)
    (empty,) = batch_messages(cfg, [], ctx, 1 << 20)
    assert "Nats-Msg-Id" not in empty[2]  # "the gateway is alive": never deduplicated
    assert decode_batch(as_msg(*empty), recent) == ([], ctx)


def test_a_counter_state_set_by_hand_is_a_batch_of_its_own_kept_by_its_id(clock: FixedClock) -> None:
    """On its hall's subject, marked set by hand; two states set in one millisecond (one epoch
    and seq: each is stamped by a stamper of its own) are two stream messages, each delivered
    once."""
    cfg = BusConfig(kind="jetstream", partitions=8)
    ctx = IngestContext("hall-1", "", CTX_TIME, by_hand=True)

    def state(status: CounterStatus) -> CounterState:
        page = Stamper("hall-1", "counter-display", clock=clock, epoch=1)
        return page.make(CounterState, counter="c1", state=status, since=clock.now())

    away, back = state(CounterStatus.AWAY), state(CounterStatus.SERVING)
    assert (away.epoch, away.seq) == (back.epoch, back.seq)
    [(subject, payload, headers)] = batch_messages(cfg, [away], ctx, 1 << 20)
    [(_s, payload_back, headers_back)] = batch_messages(cfg, [back], ctx, 1 << 20)
    assert subject == f"lw.batch.{partition_of('hall-1', 8)}.hall-1"  # in order with the hall's batches
    assert headers["Nats-Msg-Id"] != headers_back["Nats-Msg-Id"]  # JetStream keeps both
    recent = RecentKeys()
    assert decode_batch(as_msg(subject, payload, headers), recent) == ([away], ctx)
    assert decode_batch(as_msg(subject, payload_back, headers_back), recent) == ([back], ctx)
    assert decode_batch(as_msg(subject, payload, headers), recent) == ([], ctx)  # redelivered: dropped


def test_recent_keys_drop_a_message_delivered_under_another_batch(clock: FixedClock) -> None:
    a, b, c = events(clock, 3)
    recent = RecentKeys(capacity=2)
    assert [recent.fresh(m) for m in (a, b, a)] == [True, True, False]
    assert recent.fresh(c)  # a is forgotten: capacity 2
    assert recent.fresh(a)


def test_the_bus_setting_defaults_to_in_process_and_is_bounded() -> None:
    assert isinstance(build_bus(ServerSettings().bus), InProcessBus)
    with pytest.raises(ValidationError):
        BusConfig(kind="kafka")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        BusConfig(partitions=0)
    with pytest.raises(ValidationError):
        BusConfig(stream="has.dot")
    with pytest.raises(ValidationError):
        BusConfig.model_validate({"kind": "jetstream", "extra": 1})
    with pytest.raises(ValidationError, match="duplicate_window_s"):
        BusConfig(duplicate_window_s=7200, retention_s=3600)


def test_a_bus_that_cannot_reach_nats_says_where_it_looked() -> None:
    url = f"nats://127.0.0.1:{free_port()}"  # nothing listens there
    bus = JetStreamBus(BusConfig(kind="jetstream", servers=[url], publish_timeout_s=1))
    with pytest.raises(BusUnavailable, match=f"cannot set up JetStream at {url}"):
        bus.start()
    bus.stop()  # already stopped: harmless


def test_a_snapshot_entry_names_its_sequence_consumer_and_state() -> None:
    entry = Snapshot(42, "alerts-3-0a1b2c3d", b"state" * 100)
    assert Snapshot.decode(entry.encode()) == entry
    assert len(entry.encode()) < 200  # compressed
    empty = Snapshot(7, "alerts-3-0a1b2c3d", None)  # plain subscribers keep no state
    assert Snapshot.decode(empty.encode()) == empty


def test_a_workers_fair_share_and_surplus() -> None:
    cfg = BusConfig(kind="jetstream", partitions=16)
    parts = Partitions(cfg, None, None, None, "host-1-abc")  # type: ignore[arg-type]
    assert parts.fair_share() == 16
    parts.members = 2
    assert parts.fair_share() == 8
    parts.members = 3
    assert parts.fair_share() == 6  # 6 + 6 + 4: every partition has an owner
    parts.held = dict.fromkeys(range(10))  # type: ignore[assignment]
    assert parts.surplus() == [9, 8, 7, 6]  # given back, the highest first
