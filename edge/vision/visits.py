"""Visits: one person's path through the part of the hall one camera sees, and the one owner
of "how long has this person waited".

A visit opens when a customer track is first seen and ends when the track is lost for good
(or the picture is lost); a new track that appears where a customer's track vanished a moment
ago takes their visit over (a tracker identity switch). It records the zones passed through,
the wait (from joining the first queue or waiting zone until service starts, i.e. the first
counter-zone entry, or until the person leaves: outcome ``walked_out``), the service at
the counter, and its path (where the person was when first seen, at each confirmed zone entry
and exit, and when last seen: the server joins one customer's visits across cameras by it).
The visit's
*current zone* is the zone it entered last; the zone states list and time waits by it, so a
customer is in exactly one zone's list at a time. Staff never have visits
(:mod:`edge.vision.staff`). docs/vision.md, "Visits", tells the whole story.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from edge.vision.zones import Point
from lobbywatch.protocol.enums import VisitOutcome, ZoneKind

WAIT_KINDS = (ZoneKind.QUEUE, ZoneKind.WAITING)
PATH_MAX = 64
"""Points a visit keeps: the first and the latest ones (``visit`` records carry at most 64)."""


@dataclass(slots=True)
class Visit:
    """One open visit (the track it follows may change only across cameras: not here)."""

    id: str
    track: int
    arrived: datetime
    last_seen: datetime
    where: Point
    zones: list[str] = field(default_factory=list)
    zone: str | None = None
    wait_zone: str | None = None
    wait_started: datetime | None = None
    service_zone: str | None = None
    service_started: datetime | None = None
    service_ended: datetime | None = None
    path: list[tuple[datetime, Point]] = field(default_factory=list)

    def mark(self) -> None:
        """Add where the person is now (``last_seen``, ``where``) to the path."""
        if self.path and self.path[-1][0] == self.last_seen:
            self.path[-1] = (self.last_seen, self.where)
        else:
            self.path.append((self.last_seen, self.where))
        if len(self.path) > PATH_MAX:
            del self.path[1]

    @property
    def waiting(self) -> bool:
        """Joined a queue or waiting zone and not yet served."""
        return self.wait_started is not None and self.service_started is None

    def wait_s(self, now: datetime) -> float | None:
        """The wait so far (or in full, once served); ``None`` when they never waited."""
        if self.wait_started is None:
            return None
        end = self.service_started or now
        return max(0.0, (end - self.wait_started).total_seconds())

    def service_s(self, now: datetime) -> float | None:
        if self.service_started is None:
            return None
        end = self.service_ended or now
        return max(0.0, (end - self.service_started).total_seconds())


@dataclass(frozen=True, slots=True)
class ClosedVisit:
    """A completed visit, ready to be published as a ``visit`` record."""

    visit: Visit
    left: datetime
    outcome: VisitOutcome

    @property
    def wait_s(self) -> float | None:
        return self.visit.wait_s(self.left)

    @property
    def service_s(self) -> float | None:
        return self.visit.service_s(self.left)


def _visit_id() -> str:
    return secrets.token_hex(6)


class VisitBook:
    """The open visits of one camera, keyed by track."""

    def __init__(self) -> None:
        self._open: dict[int, Visit] = {}

    def seen(self, track: int, now: datetime, where: Point) -> None:
        """A customer track seen in a frame: open its visit on the first sighting."""
        v = self._open.get(track)
        if v is None:
            v = self._open[track] = Visit(_visit_id(), track, now, now, where)
            v.mark()
        else:
            v.last_seen = now
            v.where = where

    def take_over(
        self, track: int, now: datetime, where: Point, *, within_s: float, within_px: float
    ) -> bool:
        """A new track appearing where a customer's track vanished a moment ago (unseen since at
        most ``within_s``, last seen at most ``within_px`` away) is that customer after a tracker
        identity switch: it takes over the nearest such visit. Call it after every track seen
        in the frame has been :meth:`seen`. False when there is none."""
        best: tuple[float, int] | None = None
        for old, v in self._open.items():
            gap = (now - v.last_seen).total_seconds()
            if old == track or gap <= 0 or gap > within_s:
                continue
            d = math.dist(where, v.where)
            if d <= within_px and (best is None or d < best[0]):
                best = (d, old)
        if best is None:
            return False
        v = self._open.pop(best[1])
        v.track, v.last_seen, v.where = track, now, where
        self._open[track] = v
        return True

    def entered(self, track: int, zone: str, kind: ZoneKind, at: datetime) -> None:
        """A confirmed zone entry: the zone becomes current; a wait or service may begin."""
        v = self._open.get(track)
        if v is None:
            return
        if not v.zones or v.zones[-1] != zone:
            v.zones.append(zone)
        v.zone = zone
        v.mark()
        if kind in WAIT_KINDS and v.wait_started is None and v.service_started is None:
            v.wait_started, v.wait_zone = at, zone
        elif kind == ZoneKind.COUNTER and v.service_started is None:
            v.service_started, v.service_zone = at, zone

    def exited(self, track: int, zone: str, at: datetime) -> None:
        """A confirmed zone exit: leaving the service counter ends the service."""
        v = self._open.get(track)
        if v is None:
            return
        v.mark()
        if v.service_zone == zone and v.service_ended is None:
            v.service_ended = at

    def end(self, track: int, left: datetime, *, cut: bool = False) -> ClosedVisit | None:
        """Close a visit (track lost for good; ``cut``: the picture was lost)."""
        v = self._open.pop(track, None)
        if v is None:
            return None
        v.mark()
        if cut and v.service_started is None:
            outcome = VisitOutcome.LOST
        elif v.service_started is not None:
            outcome = VisitOutcome.SERVED
        elif v.wait_started is not None:
            outcome = VisitOutcome.WALKED_OUT
        else:
            outcome = VisitOutcome.PASSED
        return ClosedVisit(v, max(left, v.arrived), outcome)

    def end_all(self, now: datetime) -> list[ClosedVisit]:
        """The picture is gone: close every visit."""
        return [c for t in list(self._open) if (c := self.end(t, now, cut=True)) is not None]

    def discard(self, track: int) -> None:
        """The track turned out to be staff: its visit never happened."""
        self._open.pop(track, None)

    def get(self, track: int) -> Visit | None:
        return self._open.get(track)

    def waiting_in(self, zone: str) -> list[Visit]:
        """Visits waiting now whose current zone is ``zone``, longest wait first."""
        out = [v for v in self._open.values() if v.zone == zone and v.waiting]
        return sorted(out, key=lambda v: v.wait_started or v.arrived)

    def __len__(self) -> int:
        return len(self._open)
