"""One open alert per hall, kind and subject, guarded by the store: two engines that both
believe they hold a hall open an alert once (one row, one notification), and migration
``0010_alerts_open_key`` resolves the duplicates an older database holds before adding the key."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from lobbywatch.clock import FixedClock
from lobbywatch.protocol.enums import AlertState, Severity
from server.alerts.model import Alert, UpdateEvent
from server.alerts.store import OPEN_KEY_INDEX, AlertStore, MemoryAlertStore, SqlAlertStore
from server.storage.db import Database
from tests.server.helpers_migrations import migration_config

from .helpers_hall import Hall, hall


def _alert(site: str, clock: FixedClock, minutes: int = 0, subject: str = "k1", **changes: object) -> Alert:
    at = clock.now() + timedelta(minutes=minutes)
    alert = Alert(
        id=Alert.new_id(),
        site=site,
        kind="device_fault",
        subject=subject,
        severity=Severity.WARNING,
        state=AlertState.FIRING,
        audience=("guide",),
        started_at=at,
        updated_at=at,
        params={"code": "E1"},
        device=subject,
    )
    return alert.evolve(**changes)


def _keeps_one_open_alert_per_key(store: AlertStore, site: str, clock: FixedClock) -> None:
    first, second = _alert(site, clock), _alert(site, clock, 1)
    assert store.save(first) == first
    assert store.save(second) == first  # refused: the stored one comes back
    assert store.get(second.id) is None
    other = _alert(site, clock, 3, subject="k2")
    assert store.save(other) == other  # another subject is another alert
    acked = first.evolve(state=AlertState.ACKNOWLEDGED, acked_by="guide")
    assert store.save(acked) == acked  # the open alert itself changes freely
    resolved = first.evolve(state=AlertState.RESOLVED, resolved_at=clock.now() + timedelta(minutes=2))
    assert store.save(resolved) == resolved
    assert store.save(second) == second  # the key is free again
    reopened = resolved.evolve(state=AlertState.FIRING, resolved_at=None)
    assert store.save(reopened) == second  # reopening the old one while another is open
    got = store.get(first.id)
    assert got is not None
    assert got.state == AlertState.RESOLVED
    assert [a.id for a in store.open_alerts(site)] == [second.id, other.id]


def test_the_memory_store_keeps_one_open_alert_per_key(site_id: str, clock: FixedClock) -> None:
    _keeps_one_open_alert_per_key(MemoryAlertStore(), site_id, clock)


def test_the_sql_store_keeps_one_open_alert_per_key(sql_url: str, site_id: str, clock: FixedClock) -> None:
    store = SqlAlertStore(sql_url)
    _keeps_one_open_alert_per_key(store, site_id, clock)
    store.engine.dispose()


def test_two_engines_open_the_same_alert_once(sql_url: str, site_id: str, clock: FixedClock) -> None:
    """Two engines on one database (a lease lost but not yet noticed) see the same fault at
    once: one row, one notification; the second engine takes the stored alert as its own."""
    cfg = hall(site_id)
    halls = [Hall(cfg, clock, store=SqlAlertStore(sql_url)) for _ in range(2)]
    start = threading.Barrier(2)

    def raise_fault(h: Hall) -> None:
        start.wait(5)
        h.device_event("k1", event="fault_raised", code="PRN_PAPER_OUT", unusable=True)

    threads = [threading.Thread(target=raise_fault, args=(h,)) for h in halls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    store = SqlAlertStore(sql_url)
    [stored] = store.open_alerts(site_id)
    assert stored.kind == "device_fault"
    sent = [u for h in halls for _, batch in h.notifier.batches for u in batch]
    assert [(u.alert.id, u.event) for u in sent] == [(stored.id, UpdateEvent.FIRED)]
    told = [u for h in halls for u in h.updates]
    assert [u.alert.id for u in told] == [stored.id]
    assert sorted(h.engine.stats.duplicates for h in halls) == [0, 1]
    assert [[a.id for a in h.engine.open_alerts()] for h in halls] == [[stored.id], [stored.id]]
    loser = next(h for h in halls if h.engine.stats.duplicates)
    loser.engine.acknowledge(stored.id, "guide")  # it now keeps the stored alert
    got = store.get(stored.id)
    assert got is not None
    assert got.acked_by == "guide"
    for h in halls:
        assert isinstance(h.store, SqlAlertStore)
        h.store.engine.dispose()
    store.engine.dispose()


def test_the_migration_resolves_older_duplicates_and_adds_the_key(
    sql_url: str, site_id: str, clock: FixedClock
) -> None:
    db = Database(sql_url)
    config = migration_config()
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0009_visit_settled")
    store = SqlAlertStore(db.engine)
    with db.engine.begin() as conn:  # the table as a store before the key left it
        conn.execute(sa.text(f"DROP INDEX {OPEN_KEY_INDEX}"))
    ended = clock.now() - timedelta(minutes=9)
    old = _alert(site_id, clock, -10, state=AlertState.RESOLVED, resolved_at=ended)
    first = _alert(site_id, clock, 0, state=AlertState.ACKNOWLEDGED, acked_by="guide")
    second = _alert(site_id, clock, 1, updated_at=clock.now() + timedelta(minutes=5))
    newest = _alert(site_id, clock, 2)
    other = _alert(site_id, clock, 3, subject="k2")
    for alert in (old, first, second, newest, other):
        assert store.save(alert) == alert
    assert len(store.open_alerts(site_id)) == 4
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "heads")
    assert [a.id for a in store.open_alerts(site_id)] == [newest.id, other.id]
    superseded = newest.started_at
    for duplicate, updated in ((first, superseded), (second, second.updated_at)):
        got = store.get(duplicate.id)
        assert got is not None
        assert (got.state, got.resolved_at, got.updated_at) == (AlertState.RESOLVED, superseded, updated)
        as_it_was = got.evolve(state=duplicate.state, resolved_at=None, updated_at=duplicate.updated_at)
        assert as_it_was == duplicate  # every other column as it was
    assert store.get(old.id) == old
    assert len(store.history(site_id)) == 5  # nothing lost
    assert store.save(_alert(site_id, clock, 4)) == newest  # the key holds now
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0009_visit_settled")
        assert OPEN_KEY_INDEX not in {ix["name"] for ix in sa.inspect(conn).get_indexes("alerts")}
    db.dispose()


@pytest.mark.parametrize("tables", ["none", "made by the store"])
def test_the_migration_leaves_a_new_database_to_the_store(tables: str, tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'lobbywatch.sqlite3'}")
    if tables != "none":
        SqlAlertStore(db.engine)
    config = migration_config()
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "heads")
    store = SqlAlertStore(db.engine)  # makes the table, with its key, where none was
    assert OPEN_KEY_INDEX in {ix["name"] for ix in sa.inspect(db.engine).get_indexes("alerts")}
    assert store.open_alerts() == []
    db.dispose()
