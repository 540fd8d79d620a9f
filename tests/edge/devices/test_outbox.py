"""The device agent's outbox: numbering, PUBACK before and after the first receipt, covering,
the bound on rows kept for a receipt, and a file from before receipts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from edge.devices.outbox import DeviceOutbox
from lobbywatch.clock import FixedClock
from lobbywatch.protocol.messages import DeviceHeartbeat
from lobbywatch.protocol.sequence import Stamper


def _fill(box: DeviceOutbox, n: int) -> None:
    stamper = Stamper("h1", "k1", clock=FixedClock.at("2026-11-23T01:30:00Z"), epoch=box.epoch)
    for _ in range(n):
        box.append(lambda seq: stamper.make(DeviceHeartbeat, seq=seq, uptime_s=1, interval_s=30))


def _seqs(box: DeviceOutbox) -> list[int]:
    return [p.seq for p in box.pending(limit=1000)]


def test_before_any_receipt_a_puback_deletes(tmp_path: Path) -> None:
    box = DeviceOutbox(tmp_path / "o.sqlite3", new_epoch=lambda: 7)
    _fill(box, 3)
    box.ack(1)
    assert _seqs(box) == [0, 2]
    assert not box.keeps_until_receipt


def test_after_a_receipt_a_puback_keeps_and_a_receipt_deletes(tmp_path: Path) -> None:
    box = DeviceOutbox(tmp_path / "o.sqlite3", new_epoch=lambda: 7)
    _fill(box, 5)
    assert box.cover(0) == 1
    assert box.keeps_until_receipt
    for seq in (1, 2, 3):
        box.ack(seq)
    assert _seqs(box) == [1, 2, 3, 4]  # kept, resent after a reconnect
    assert (box.unacked(), box.backlog()) == (1, 4)
    assert box.cover(2) == 2  # covers seq <= 2 (whether acknowledged or not)
    assert _seqs(box) == [3, 4]
    box.close()
    again = DeviceOutbox(tmp_path / "o.sqlite3")
    assert again.keeps_until_receipt
    assert again.epoch == 7
    assert (again.unacked(), again.backlog()) == (1, 2)


def test_rows_kept_for_a_receipt_are_bounded_oldest_first(tmp_path: Path) -> None:
    box = DeviceOutbox(tmp_path / "o.sqlite3", max_kept=3)
    _fill(box, 6)
    box.cover(-1)  # a receipt with nothing committed yet: keep from now on
    for seq in range(5):
        box.ack(seq)
    assert _seqs(box) == [2, 3, 4, 5]  # 3 acknowledged kept, the unacknowledged one never goes


def test_an_outbox_from_before_receipts_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE outbox (seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, payload BLOB NOT NULL,"
        " retain INTEGER NOT NULL);"
        "CREATE TABLE state (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
        "INSERT INTO state VALUES ('epoch', 5), ('next_seq', 1);"
        "INSERT INTO outbox VALUES (0, 't', x'7b7d', 0);"
    )
    db.commit()
    db.close()
    box = DeviceOutbox(path)
    assert (box.epoch, box.next_seq, box.unacked()) == (5, 1, 1)
    _fill(box, 1)
    assert _seqs(box) == [0, 1]
