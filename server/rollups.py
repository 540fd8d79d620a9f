"""Per-minute rollups of zones (occupancy, queue length, expected and actual waits) and of
halls (arrivals, as :func:`server.arrivals.arrivals_total` reads them; total occupancy),
accumulated in memory and merged into SQL once a minute is closed (two minutes behind the
newest message of the site, for reordering slack), or on :meth:`Rollups.flush` with
``everything=True`` (shutdown, reports, forecasts).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from lobbywatch.protocol.enums import ZoneKind
from lobbywatch.protocol.messages import WaitRecord, ZoneState
from server.arrivals import arrivals_total
from server.storage.models import SiteMinute, ZoneMinute
from server.timeseries.lines import arrivals_line


def minute_of(when: datetime) -> datetime:
    return when.replace(second=0, microsecond=0)


@dataclass
class ZoneAcc:
    samples: int = 0
    occupancy_sum: float = 0.0
    occupancy_max: float = 0.0
    queue_samples: int = 0
    queue_sum: float = 0.0
    queue_max: int = 0
    expected_wait_samples: int = 0
    expected_wait_sum_s: float = 0.0
    expected_wait_max_s: float = 0.0
    waits: int = 0
    waits_within_limit: int = 0
    wait_sum_s: float = 0.0
    wait_max_s: float = 0.0


@dataclass
class SiteAcc:
    arrivals: int = 0
    occupancy_samples: int = 0
    occupancy_sum: float = 0.0
    occupancy_max: float = 0.0


_SUMS = ("samples", "occupancy_sum", "queue_samples", "queue_sum", "expected_wait_samples")
_SUMS2 = ("expected_wait_sum_s", "waits", "waits_within_limit", "wait_sum_s")
_MAXES = ("occupancy_max", "queue_max", "expected_wait_max_s", "wait_max_s")


class Rollups:
    def __init__(self) -> None:
        # Open minutes per site, so that a batch looks only at its own site's minutes.
        self.zones: dict[str, dict[tuple[str, datetime], ZoneAcc]] = {}  # site -> (zone, minute)
        self.sites: dict[str, dict[datetime, SiteAcc]] = {}  # site -> minute
        self.newest: dict[str, datetime] = {}
        self._arrived: dict[tuple[str, str, str, int], int] = {}
        self._flushed_zones: list[tuple[tuple[str, str, datetime], ZoneAcc]] = []
        self._flushed_sites: list[tuple[tuple[str, datetime], SiteAcc]] = []

    def commit(self) -> None:
        """The transaction holding the last :meth:`flush` committed."""
        self._flushed_zones.clear()
        self._flushed_sites.clear()

    def rollback(self) -> None:
        """The transaction holding the last :meth:`flush` failed: keep the minutes open."""
        for (site, zone, minute), acc in self._flushed_zones:
            self.zones.setdefault(site, {}).setdefault((zone, minute), acc)
        for (site, minute), sacc in self._flushed_sites:
            self.sites.setdefault(site, {}).setdefault(minute, sacc)
        self.commit()

    def _touch(self, site: str, minute: datetime) -> None:
        if site not in self.newest or minute > self.newest[site]:
            self.newest[site] = minute

    def _zone_acc(self, site: str, zone: str, minute: datetime) -> ZoneAcc:
        zones = self.zones.get(site)
        if zones is None:
            zones = self.zones[site] = {}
        acc = zones.get((zone, minute))
        if acc is None:
            acc = zones[(zone, minute)] = ZoneAcc()
        return acc

    def _site_acc(self, site: str, minute: datetime) -> SiteAcc:
        minutes = self.sites.get(site)
        if minutes is None:
            minutes = self.sites[site] = {}
        acc = minutes.get(minute)
        if acc is None:
            acc = minutes[minute] = SiteAcc()
        return acc

    def add_zone_state(self, msg: ZoneState, site_occupancy: float) -> None:
        minute = minute_of(msg.ts)
        self._touch(msg.site, minute)
        acc = self._zone_acc(msg.site, msg.zone, minute)
        acc.samples += 1
        acc.occupancy_sum += msg.occupancy
        acc.occupancy_max = max(acc.occupancy_max, msg.occupancy)
        if msg.queue_length is not None:
            acc.queue_samples += 1
            acc.queue_sum += msg.queue_length
            acc.queue_max = max(acc.queue_max, msg.queue_length)
        if msg.expected_wait_s is not None:
            acc.expected_wait_samples += 1
            acc.expected_wait_sum_s += msg.expected_wait_s
            acc.expected_wait_max_s = max(acc.expected_wait_max_s, msg.expected_wait_s)
        sacc = self._site_acc(msg.site, minute)
        sacc.occupancy_samples += 1
        sacc.occupancy_sum += site_occupancy
        sacc.occupancy_max = max(sacc.occupancy_max, site_occupancy)
        if msg.kind == ZoneKind.ENTRANCE:
            key = (msg.site, msg.source, msg.zone, msg.epoch)
            last = self._arrived.get(key)
            total = arrivals_total(msg)
            if last is not None and total >= last:
                sacc.arrivals += total - last
            if last is None or total >= last:
                self._arrived[key] = total

    def add_wait(self, msg: WaitRecord, limit_s: float) -> None:
        minute = minute_of(msg.ended)
        self._touch(msg.site, minute)
        acc = self._zone_acc(msg.site, msg.zone, minute)
        acc.waits += 1
        acc.waits_within_limit += int(msg.duration_s <= limit_s)
        acc.wait_sum_s += msg.duration_s
        acc.wait_max_s = max(acc.wait_max_s, msg.duration_s)

    def flush(
        self, session: Session, *, sites: Iterable[str] | None = None, everything: bool = False
    ) -> list[str]:
        """Merge closed minutes of ``sites`` (default: all) into SQL; returns ``arrivals`` lines.

        A minute closes when its site has data two minutes newer (``everything``: all minutes).
        Call :meth:`commit` or :meth:`rollback` once the session's transaction has ended.
        """
        lines: list[str] = []
        closed: list[tuple[str, str, datetime]] = []
        closed_sites: list[tuple[str, datetime]] = []
        for site in list(self.newest) if sites is None else sites:
            newest = self.newest.get(site)
            if newest is None:
                continue
            limit = newest - timedelta(minutes=1)
            zones = self.zones.get(site, {})
            closed += [(site, z, m) for z, m in zones if everything or m < limit]
            closed_sites += [(site, m) for m in self.sites.get(site, {}) if everything or m < limit]
        rows = _zone_rows(session, closed)
        for key in closed:
            acc = self.zones[key[0]].pop((key[1], key[2]))
            self._flushed_zones.append((key, acc))
            row = rows.get(key)
            if row is None:
                session.add(ZoneMinute(site=key[0], zone=key[1], minute=key[2], **acc.__dict__))
                continue
            for name in _SUMS + _SUMS2:
                setattr(row, name, getattr(row, name) + getattr(acc, name))
            for name in _MAXES:
                setattr(row, name, max(getattr(row, name), getattr(acc, name)))
        site_rows = _site_rows(session, closed_sites)
        for skey in closed_sites:
            sacc = self.sites[skey[0]].pop(skey[1])
            self._flushed_sites.append((skey, sacc))
            srow = site_rows.get(skey)
            if srow is None:
                srow = SiteMinute(site=skey[0], minute=skey[1], **sacc.__dict__)
                session.add(srow)
            else:
                srow.arrivals += sacc.arrivals
                srow.occupancy_samples += sacc.occupancy_samples
                srow.occupancy_sum += sacc.occupancy_sum
                srow.occupancy_max = max(srow.occupancy_max, sacc.occupancy_max)
            lines.append(arrivals_line(skey[0], skey[1], srow.arrivals))
        return lines


def _zone_rows(
    session: Session, keys: list[tuple[str, str, datetime]]
) -> dict[tuple[str, str, datetime], ZoneMinute]:
    """The stored rows among ``keys``: one query per (site, minute), not one per zone."""
    groups: dict[tuple[str, datetime], list[str]] = {}
    for site, zone, minute in keys:
        groups.setdefault((site, minute), []).append(zone)
    found: dict[tuple[str, str, datetime], ZoneMinute] = {}
    for (site, minute), zones in groups.items():
        query = select(ZoneMinute).where(
            ZoneMinute.site == site, ZoneMinute.minute == minute, ZoneMinute.zone.in_(zones)
        )
        for row in session.scalars(query):
            found[(row.site, row.zone, minute)] = row
    return found


def _site_rows(session: Session, keys: list[tuple[str, datetime]]) -> dict[tuple[str, datetime], SiteMinute]:
    """The stored rows among ``keys``: one query per site."""
    groups: dict[str, list[datetime]] = {}
    for site, minute in keys:
        groups.setdefault(site, []).append(minute)
    found: dict[tuple[str, datetime], SiteMinute] = {}
    for site, minutes in groups.items():
        query = select(SiteMinute).where(SiteMinute.site == site, SiteMinute.minute.in_(minutes))
        for row in session.scalars(query):
            found[(row.site, row.minute)] = row
    return found
