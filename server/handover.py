"""Visits joined across cameras: the one owner of "which cameras' visits are one customer" and
of that customer's wait on the server.

Each camera keeps its own visits (``edge/vision/visits.py``); a customer walking from one
camera's view into another's gets a new visit there. The cameras' zone states list every
waiting visit with where it stands (``ZoneState.waiting``); with a ground-plane calibration
(``floor`` in the hall file) that point is a point on the hall's floor plan. A visit first
listed on camera B within ``radius_m`` of where a visit of another camera A stood at most
``window_s`` ago is the same customer (the views overlap or meet there), unless that
customer is listed on B already: the two are one *joined visit*, whose wait began when the
first of them began waiting.

Completed visits are joined with the same radius and window, on their records' paths
(:func:`continues`, :func:`nearest`, :func:`clash`): :func:`server.visits.store_visit` stores
the decision as the visits' ``customer``.
docs/vision.md, "Floor plan and handover".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from lobbywatch.config.site import SiteConfig
from lobbywatch.floor_plan import FloorPlan
from lobbywatch.protocol.messages import LongWait, ZoneState

RADIUS_M = 1.5
WINDOW_S = 30.0
NEVER = datetime.max.replace(tzinfo=UTC)

Key = tuple[str, str]  # (camera, visit)
Point = tuple[float, float]
K = TypeVar("K")


@dataclass(eq=False)
class Joined:
    """One customer's visit over every camera that saw them wait."""

    key: Key  # the first camera visit: it names the customer's care task
    wait_started: datetime
    members: set[Key] = field(default_factory=set)


@dataclass(eq=False)
class _Member:
    joined: Joined
    floor: Point | None
    seen: datetime  # when a zone state last listed it
    first: datetime  # when a zone state first listed it
    out_of: dict[str, datetime] = field(default_factory=dict)  # camera -> last listed outside its view


class Handover:
    """The waiting visits of one hall, joined across cameras."""

    def __init__(
        self, plans: Mapping[str, FloorPlan], *, radius_m: float = RADIUS_M, window_s: float = WINDOW_S
    ) -> None:
        self.plans = dict(plans)
        self.radius_m = radius_m
        self.window = timedelta(seconds=window_s)
        self._members: dict[Key, _Member] = {}
        self._listed: dict[tuple[str, str], set[str]] = {}  # (camera, zone) -> visits

    @classmethod
    def of(cls, cfg: SiteConfig) -> Handover:
        """The hall's cameras with a ground-plane calibration."""
        return cls({c.id: c.floor.plan for c in cfg.cameras if c.floor is not None})

    def floor(self, camera: str, at: Point | None) -> Point | None:
        """Where a normalised image point of ``camera`` lies on the floor plan (metres)."""
        plan = self.plans.get(camera)
        return None if plan is None or at is None else plan.to_floor(at)

    def update(self, z: ZoneState) -> list[tuple[Joined, LongWait]]:
        """Take in a zone state's waiting visits; each with its joined visit, joined now when new."""
        waits = z.waiting if z.waiting is not None else (z.long_waits or [])
        self._listed[(z.source, z.zone)] = {w.visit for w in waits}
        out = []
        for w in waits:
            key = (z.source, w.visit)
            floor = self.floor(z.source, w.at)
            started = z.ts - timedelta(seconds=w.wait_s)
            m = self._members.get(key)
            if m is None:
                joined = self._predecessor(z.source, floor, z.ts) or Joined(key, started)
                m = _Member(joined, floor, z.ts, z.ts)
                self._members[key] = m
                joined.members.add(key)
            m.seen, m.floor = z.ts, floor or m.floor
            if floor is not None:
                m.out_of.update({cam: z.ts for cam, plan in self.plans.items() if not plan.sees(floor)})
            m.joined.wait_started = min(m.joined.wait_started, started)
            out.append((m.joined, w))
        self._forget(z.ts)
        return out

    def restore(self, camera: str, zone: str, visit: str) -> Joined:
        """An open care task taken back after a restart: listed until its zone says otherwise."""
        key = (camera, visit)
        self._listed.setdefault((camera, zone), set()).add(visit)
        if key not in self._members:
            joined = Joined(key, NEVER, {key})
            never = datetime.min.replace(tzinfo=UTC)
            self._members[key] = _Member(joined, None, never, never)
        return self._members[key].joined

    def listed(self, camera: str, visit: str) -> bool:
        """Whether the latest state of some zone of ``camera`` lists the visit."""
        return any(visit in vs for (cam, _z), vs in self._listed.items() if cam == camera)

    def last_listed(self, joined: Joined) -> datetime | None:
        """When a member of ``joined`` was last listed; ``None`` while one is listed now."""
        if any(self.listed(*k) for k in joined.members):
            return None
        seen = [m.seen for k in joined.members if (m := self._members.get(k)) is not None]
        return max(seen, default=datetime.min.replace(tzinfo=UTC))

    def calibrated(self, joined: Joined) -> bool:
        """Whether the customer could be handed over (some member's camera has a floor plan)."""
        return any(k[0] in self.plans for k in joined.members)

    def _predecessor(self, camera: str, floor: Point | None, now: datetime) -> Joined | None:
        """The joined visit a new visit of ``camera`` at ``floor`` continues, if any: the
        nearest visit of another camera seen within the window and radius that has just left
        that camera's view (the views meet), or just walked into ``camera``'s or just began
        (they overlap: someone standing in the shared part all along would have been seen
        long ago), and whose customer is not listed on ``camera`` already."""
        if floor is None:
            return None
        best: tuple[float, Joined] | None = None
        for key, m in self._members.items():
            if key[0] == camera or m.floor is None or now - m.seen > self.window:
                continue
            fresh = now - max(m.first, m.out_of.get(camera, m.first)) <= self.window
            if self.listed(*key) and not fresh:
                continue
            d = math.dist(m.floor, floor)
            if d > self.radius_m or (best is not None and d >= best[0]):
                continue
            if any(k[0] == camera and self.listed(*k) for k in m.joined.members):
                continue
            best = (d, m.joined)
        return None if best is None else best[1]

    def _forget(self, now: datetime) -> None:
        """Drop members unlisted for longer than the window (a joined visit goes with its last)."""
        for key in [
            k for k, m in self._members.items() if now - m.seen > self.window and not self.listed(*k)
        ]:
            m = self._members.pop(key)
            m.joined.members.discard(key)


# --------------------------------------------------------------------------- completed visits


@dataclass(frozen=True, slots=True)
class Trace:
    """Where a completed camera visit went on the floor: its camera, when it was seen, and the
    floor points of its record's path (first seen, zone entries and exits, last seen)."""

    camera: str
    arrived: datetime
    left: datetime
    points: tuple[tuple[datetime, Point], ...]


def continues(
    before: Trace, after: Trace, *, radius_m: float = RADIUS_M, window_s: float = WINDOW_S
) -> float | None:
    """How far (m) ``after`` began from where ``before``'s person was then, when ``after`` is
    the same customer seen next by another camera; ``None`` when it is not.

    ``after`` must begin while ``before`` is seen or at most ``window_s`` after it was last
    seen (the views overlap or meet), within ``radius_m`` of a point of ``before``'s path at
    most ``window_s`` apart in time: where they stood when they left ``before``'s view, or
    entered or left a zone of it, as they walked into ``after``'s view."""
    if before.camera == after.camera or not before.points or not after.points:
        return None
    window = timedelta(seconds=window_s)
    at, start = after.points[0]
    if at < before.arrived or at > before.left + window:
        return None
    d = min((math.dist(p, start) for t, p in before.points if abs(t - at) <= window), default=None)
    return d if d is not None and d <= radius_m else None


def nearest(found: Iterable[tuple[K, float | None]]) -> K | None:
    """The key of the nearest continuation among ``(key, continues(...))`` pairs, if any."""
    best = min(((d, i, k) for i, (k, d) in enumerate(found) if d is not None), default=None)
    return None if best is None else best[2]


def clash(a: Iterable[Trace], b: Iterable[Trace]) -> bool:
    """Whether two customers' visits cannot be one customer: one camera saw both at once."""
    ys = list(b)
    return any(x.camera == y.camera and x.arrived <= y.left and y.arrived <= x.left for x in a for y in ys)
