"""From tracked boxes to protocol messages: staff, zones, dwell, visits and their waits,
loitering, arrivals, rate limiting (what counts as an arrival: docs/vision.md, "Arrivals";
visits and staff: docs/vision.md, "Visits" and "Staff").

This part knows nothing about cameras or detectors, so anything that produces tracked boxes
can drive it: the vision daemon (detector + tracker) or a lobby simulator feeding synthetic
tracks::

    pipeline = ZonePipeline(site, "cam-1", Stamper(site.site, "cam-1", clock=clock),
                            frame_size=(1280, 720))
    messages = pipeline.start(clock.now())          # zeroed retained zone states
    messages += pipeline.update([TrackedBox(7, (100, 200, 160, 420))], clock.now())
    for m in messages:
        publish(client, m)

:meth:`ZonePipeline.update` is called once per processed frame with every track the tracker
reports in that frame and the frame's time (from the injected clock); it returns the
messages to publish: :class:`ZoneState` (per zone at most once per ``min_interval_s`` when it
changed, and at least every ``keepalive_s``; its waits come from the visits), :class:`WaitRecord`
(one per completed dwell in queue, waiting and counter zones) and :class:`VisitRecord` (one per
completed visit). It never publishes itself.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from edge.vision.dwell import ClosedDwell, DwellBook, OccupancySmoother, ServiceStats
from edge.vision.expected_wait import expected_wait
from edge.vision.staff import StaffJudge
from edge.vision.visits import ClosedVisit, VisitBook
from edge.vision.zones import (
    Point,
    Polygon,
    ZoneMembership,
    anchor,
    filter_roi,
    point_in_polygon,
    zone_count,
)
from lobbywatch.config.site import CameraConfig, SiteConfig
from lobbywatch.protocol.codec import new_message_id
from lobbywatch.protocol.enums import WaitKind, WaitOutcome, ZoneKind
from lobbywatch.protocol.messages import (
    Envelope,
    LongWait,
    VisitPoint,
    VisitRecord,
    WaitRecord,
    ZoneState,
)
from lobbywatch.protocol.sequence import Stamper

log = logging.getLogger(__name__)

QUEUE_KINDS = (ZoneKind.QUEUE, ZoneKind.WAITING)
LOITER_KINDS = (ZoneKind.ENTRANCE, ZoneKind.EXPERIENCE)
HANDOVER_FRAME_SHARE = 0.04
"""How far (share of the frame's larger side) a new track may appear from where a customer's
track vanished and still take over their visit."""


@dataclass(frozen=True, slots=True)
class TrackedBox:
    """One tracked person in one frame: tracker id, box ``(x1, y1, x2, y2)`` in pixels, score."""

    track_id: int
    xyxy: tuple[float, float, float, float]
    conf: float = 1.0


@dataclass(slots=True)
class _Zone:
    id: str
    kind: ZoneKind
    polygon: Polygon
    membership: ZoneMembership
    dwell: DwellBook
    smoother: OccupancySmoother = field(default_factory=OccupancySmoother)
    count: int = 0
    occupancy: float = 0.0
    entered: int = 0
    exited: int = 0
    arrived: int = 0
    feeders: list[str] = field(default_factory=list)
    configured_counters: int = 0
    last_sent: datetime | None = None
    last_key: tuple[object, ...] | None = None
    last_state: ZoneState | None = None


class ZonePipeline:
    """Zone membership, dwell and wait bookkeeping for one camera."""

    def __init__(
        self,
        site: SiteConfig,
        camera: CameraConfig | str,
        stamper: Stamper,
        *,
        frame_size: tuple[int, int],
        min_interval_s: float = 1.0,
        keepalive_s: float = 10.0,
        occupancy_window: int = 3,
    ) -> None:
        self.site = site
        self.camera = site.camera(camera) if isinstance(camera, str) else camera
        self.stamper = stamper
        self.frame_size = frame_size
        self.min_interval = timedelta(seconds=min_interval_s)
        self.keepalive = timedelta(seconds=keepalive_s)
        self.lost_timeout = timedelta(seconds=self.camera.lost_track_timeout_s)
        self.roi: Polygon | None = list(self.camera.roi) if self.camera.roi else None
        th = site.thresholds
        self.wait_limit_s = th.max_wait_min * 60
        self.loiter_s = th.loiter_min * 60
        self.care_s = th.care_visit_min * 60
        self.cold_start_service_s = th.transaction_min * 60
        self.services = ServiceStats()
        self.staff = StaffJudge(self.camera.staff)
        self.visits = VisitBook()
        self.departures: dict[str, ServiceStats] = {}
        self._last_seen: dict[int, datetime] = {}
        self._joined_queue: set[int] = set()
        # track -> the entrance zone its first sighting lay in (None: first seen elsewhere);
        # dropped at the track's first confirmed zone entry (docs/vision.md, "Arrivals")
        self._origin: dict[int, str | None] = {}
        self.zones: dict[str, _Zone] = {}
        seen_zone_ids = {cz.zone for cz in self.camera.zones}
        for cz in self.camera.zones:
            poly = list(cz.polygon)
            self.zones[cz.zone] = _Zone(
                id=cz.zone,
                kind=site.zone(cz.zone).kind,
                polygon=poly,
                membership=ZoneMembership(cz.zone, poly, self.camera.entry_frames, self.camera.exit_frames),
                dwell=DwellBook(cz.zone),
                smoother=OccupancySmoother(occupancy_window),
            )
        for z in self.zones.values():
            if z.kind in QUEUE_KINDS:
                feeding = [c for c in site.counters if c.queue == z.id]
                z.configured_counters = len(feeding)
                z.feeders = [c.zone for c in feeding if c.zone in seen_zone_ids]
                self.departures[z.id] = ServiceStats()

    # ------------------------------------------------------------------ lifecycle

    def start(self, now: datetime) -> list[Envelope]:
        """Forget everything and return zeroed zone states (publish them retained at start-up)."""
        self._last_seen.clear()
        self._joined_queue.clear()
        self._origin.clear()
        self.staff.reset()
        self.visits = VisitBook()
        for z in self.zones.values():
            z.membership.reset()
            z.dwell = DwellBook(z.id)
            z.smoother.reset()
            z.count = 0
            z.occupancy = 0.0
            z.last_sent = None
            z.last_key = None
        return [self._emit(z, now) for z in self.zones.values()]

    def stream_lost(self, now: datetime) -> list[Envelope]:
        """The picture is gone: close every dwell and visit as lost and publish zeroed states."""
        out: list[Envelope] = [self._visit_record(c) for c in self.visits.end_all(now)]
        self.staff.reset()
        for z in self.zones.values():
            for closed in z.dwell.close_all(now, WaitOutcome.LOST):
                z.exited += 1
                out += self._record(z, closed)
            z.membership.reset()
            z.smoother.reset()
            z.count = 0
            z.occupancy = 0.0
        self._last_seen.clear()
        self._joined_queue.clear()
        self._origin.clear()
        out += [self._emit(z, now) for z in self.zones.values()]
        return out

    def current_states(self) -> list[ZoneState]:
        """The last zone state built for each zone (to republish after a reconnect)."""
        return [z.last_state for z in self.zones.values() if z.last_state is not None]

    # ------------------------------------------------------------------ per frame

    def update(self, tracks: Sequence[TrackedBox], now: datetime) -> list[Envelope]:
        """Feed one processed frame's tracks; return the messages to publish."""
        anchors: dict[int, Point] = {t.track_id: anchor(t.xyxy, self.frame_size) for t in tracks}
        anchors = filter_roi(anchors, self.roi)
        for tid in self.staff.update(anchors, now):
            self._forget_staff(tid)
        customers = {tid: pt for tid, pt in anchors.items() if tid not in self.staff.staff}
        fresh = {tid for tid in anchors if tid not in self._last_seen}
        for tid, pt in anchors.items():
            if tid in fresh:
                self._origin[tid] = self._entrance_at(pt)
            self._last_seen[tid] = now
        for tid, pt in customers.items():
            if tid not in fresh:
                self.visits.seen(tid, now, pt)
        for tid in fresh & customers.keys():
            if self._took_over(tid, customers[tid], now):
                self._origin[tid] = None  # the same person under a new id: no new arrival
            else:
                self.visits.seen(tid, now, customers[tid])
        out: list[Envelope] = []
        for z in self.zones.values():
            for tr in z.membership.update(customers, now):
                if tr.entered:
                    self.visits.entered(tr.track, z.id, z.kind, tr.at)
                    z.entered += 1
                    if tr.track in self._origin and self._origin.pop(tr.track) == z.id:
                        z.arrived += 1
                    z.dwell.open(tr.track, tr.at, anchors.get(tr.track, (0.0, 0.0)))
                    if z.kind in QUEUE_KINDS:
                        self._joined_queue.add(tr.track)
                else:
                    z.exited += 1
                    self.visits.exited(tr.track, z.id, tr.at)
                    closed = z.dwell.close(tr.track, tr.at, WaitOutcome.EXITED)
                    if closed is not None:
                        out += self._record(z, closed)
            for tid in z.dwell.tracks() & customers.keys():
                z.dwell.seen(tid, now, customers[tid])
            counted = anchors if self.staff.counts_in(z.id) else customers
            z.count = zone_count(counted.values(), z.polygon)
            z.occupancy = z.smoother.update(z.count)
        out += self._expire_lost(now)
        for z in self.zones.values():
            state = self._build(z, now)
            key = self._key(state)
            due_change = key != z.last_key and (z.last_sent is None or now - z.last_sent >= self.min_interval)
            due_keepalive = z.last_sent is None or now - z.last_sent >= self.keepalive
            if due_change or due_keepalive:
                out.append(self._send(z, state, now))
        return out

    # ------------------------------------------------------------------ internals

    def _entrance_at(self, pt: Point) -> str | None:
        """The entrance zone containing ``pt`` (where a new track was first seen), if any."""
        for z in self.zones.values():
            if z.kind == ZoneKind.ENTRANCE and point_in_polygon(pt, z.polygon):
                return z.id
        return None

    def _took_over(self, tid: int, pt: Point, now: datetime) -> bool:
        """A new track first seen inside a zone other than an entrance (where people come and go
        through the door), where a customer's track vanished a moment ago, takes over that
        customer's visit (docs/vision.md, "Visits")."""
        inside = [z for z in self.zones.values() if point_in_polygon(pt, z.polygon)]
        if not inside or any(z.kind == ZoneKind.ENTRANCE for z in inside):
            return False
        return self.visits.take_over(
            tid,
            now,
            pt,
            within_s=self.lost_timeout.total_seconds(),
            within_px=HANDOVER_FRAME_SHARE * max(self.frame_size),
        )

    def _forget_staff(self, tid: int) -> None:
        """A track just judged staff: it leaves memberships, dwells and visits unrecorded."""
        self._joined_queue.discard(tid)
        self.visits.discard(tid)
        for z in self.zones.values():
            if z.membership.drop(tid):
                z.exited += 1
            z.dwell.discard(tid)

    def _expire_lost(self, now: datetime) -> list[Envelope]:
        out: list[Envelope] = []
        for tid, seen in list(self._last_seen.items()):
            if now - seen <= self.lost_timeout:
                continue
            del self._last_seen[tid]
            self._joined_queue.discard(tid)
            self._origin.pop(tid, None)
            self.staff.forget(tid)
            if (visit := self.visits.end(tid, seen)) is not None:
                out.append(self._visit_record(visit))
            for z in self.zones.values():
                if z.membership.drop(tid):
                    z.exited += 1
                closed = z.dwell.close(tid, seen, WaitOutcome.LOST)
                if closed is not None:
                    out += self._record(z, closed)
        return out

    def _record(self, z: _Zone, closed: ClosedDwell) -> list[Envelope]:
        if z.kind in QUEUE_KINDS:
            if closed.outcome == WaitOutcome.EXITED:
                self.departures[z.id].add_departure(closed.ended)
            kind = WaitKind.WAIT
        elif z.kind == ZoneKind.COUNTER:
            if closed.outcome == WaitOutcome.EXITED:
                self.services.add_service(closed.ended, closed.duration_s)
            kind = WaitKind.SERVICE
        else:
            return []
        return [
            self.stamper.make(
                WaitRecord,
                zone=z.id,
                kind=kind,
                zone_kind=z.kind,
                started=closed.started,
                ended=closed.ended,
                duration_s=closed.duration_s,
                outcome=closed.outcome,
            )
        ]

    def _visit_record(self, closed: ClosedVisit) -> VisitRecord:
        v = closed.visit
        return self.stamper.make(
            VisitRecord,
            visit=v.id,
            arrived=v.arrived,
            left=closed.left,
            zones=v.zones[-64:],
            wait_zone=v.wait_zone,
            wait_started=v.wait_started,
            wait_s=None if (w := closed.wait_s) is None else round(min(w, 7 * 86400), 1),
            service_zone=v.service_zone,
            service_started=v.service_started,
            service_s=None if (s := closed.service_s) is None else round(min(s, 7 * 86400), 1),
            outcome=closed.outcome,
            path=[self._point(at, where) for at, where in v.path],
        )

    def _point(self, at: datetime, where: Point) -> VisitPoint:
        """A path point of a visit: normalised, and on the floor plan when calibrated."""
        image = self._norm(where)
        floor = None if self.camera.floor is None else self.camera.floor.plan.to_floor(image)
        return VisitPoint(
            at=at,
            image=(round(image[0], 4), round(image[1], 4)),
            floor=None if floor is None else (round(floor[0], 3), round(floor[1], 3)),
        )

    def _norm(self, pt: Point) -> tuple[float, float]:
        """A pixel point as normalised (x, y) in the image, 0..1."""
        w, h = self.frame_size
        return (min(1.0, max(0.0, pt[0] / max(w, 1))), min(1.0, max(0.0, pt[1] / max(h, 1))))

    def _serving(self, z: _Zone) -> int:
        if z.feeders:
            return sum(1 for f in z.feeders if self.zones[f].membership.members())
        return z.configured_counters

    def _build(self, z: _Zone, now: datetime) -> ZoneState:
        """The zone's state now. Its waits are the waits of the visits whose current zone it
        is (a counter zone's longest is the service under way there)."""
        long_waits: list[LongWait] = []
        waits: list[LongWait] = []
        over = 0
        if z.kind == ZoneKind.COUNTER:
            longest = z.dwell.longest(now)
        else:
            waiting = [(v.wait_s(now) or 0.0, v) for v in self.visits.waiting_in(z.id)]
            longest = (waiting[0][0], waiting[0][1].where) if waiting else None
            over = sum(1 for w, _ in waiting if w > self.wait_limit_s)
            waits = [
                LongWait(visit=v.id, wait_s=round(min(w, 7 * 86400), 1), at=self._norm(v.where))
                for w, v in waiting
            ]
            long_waits = [lw for lw in waits if lw.wait_s >= self.care_s]
        where = None if longest is None else self._norm(longest[1])
        queue_length: int | None = None
        expected: float | None = None
        if z.kind in QUEUE_KINDS:
            queue_length = len(z.membership.members())
            est = expected_wait(
                queue_length,
                self.services.mean_service_s(now),
                self._serving(z),
                cold_start_service_s=self.cold_start_service_s,
                departures_per_s=self.departures[z.id].departure_rate(now),
            )
            if est.disagrees:
                log.info(
                    "zone %s: expected wait %.0fs differs from Little's law %.0fs",
                    z.id,
                    est.seconds,
                    est.littles_law_s or 0.0,
                )
            expected = round(min(est.seconds, 7 * 86400), 1)
        loitering = 0
        if z.kind in LOITER_KINDS:
            loitering = sum(
                1
                for tid in z.dwell.tracks()
                if tid not in self._joined_queue and (z.dwell.duration(tid, now) or 0.0) > self.loiter_s
            )
        return ZoneState(
            v=1,
            id=new_message_id(),
            site=self.stamper.site,
            source=self.stamper.source,
            epoch=self.stamper.epoch,
            seq=0,
            ts=now,
            zone=z.id,
            kind=z.kind,
            occupancy=round(z.occupancy, 2),
            count=z.count,
            queue_length=queue_length,
            longest_wait_s=None if longest is None else round(min(longest[0], 7 * 86400), 1),
            longest_wait_at=where,
            expected_wait_s=expected,
            waits_over_limit=over,
            loitering=loitering,
            entered_total=z.entered,
            exited_total=z.exited,
            arrivals_total=z.arrived if z.kind == ZoneKind.ENTRANCE else None,
            long_waits=long_waits,
            waiting=waits,
        )

    @staticmethod
    def _key(state: ZoneState) -> tuple[object, ...]:
        # What counts as a change: counts, queue, expected wait (to 10 s), people over the
        # limit, loitering, and whether anyone is waiting. The longest wait itself grows
        # every second; the keep-alive carries it.
        return (
            state.occupancy,
            state.count,
            state.queue_length,
            None if state.expected_wait_s is None else round(state.expected_wait_s / 10),
            state.waits_over_limit,
            state.loitering,
            state.longest_wait_s is None,
            state.entered_total,
            state.exited_total,
            state.arrivals_total,
            tuple(w.visit for w in state.long_waits or ()),
            tuple(w.visit for w in state.waiting or ()),
        )

    def _send(self, z: _Zone, draft: ZoneState, now: datetime) -> ZoneState:
        fields = draft.model_dump(exclude={"v", "id", "site", "source", "epoch", "seq", "ts", "type"})
        msg = self.stamper.make(ZoneState, **fields)
        z.last_sent = now
        z.last_key = self._key(draft)
        z.last_state = msg
        return msg

    def _emit(self, z: _Zone, now: datetime) -> ZoneState:
        return self._send(z, self._build(z, now), now)
