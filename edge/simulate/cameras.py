"""What a tracker on each virtual camera would report: person boxes in pixel space, with
track ids kept while a camera sees a person, a clean walk-out, a walk-in from the hall (not
the door) into an entrance zone, staff standing in the camera's staff positions (customers
never do), optional detector noise and identity switches, and, for calibrated cameras whose
views overlap, one floor point per person shown by every camera that sees it.

How boxes are placed and sized: ``docs/simulator.md``, "Cameras".
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from edge.simulate.scenario import CameraNoise
from edge.simulate.world import Person, Phase
from edge.vision.pipeline import TrackedBox
from lobbywatch.config.site import CameraConfig
from lobbywatch.floor_plan import FloorPlan

Point = tuple[float, float]
Poly = list[tuple[float, float]]

FRAME_SIZES = ((640, 480), (1280, 720), (1920, 1080), (2560, 1440), (3840, 2160))


def inside(pt: Point, poly: Poly) -> bool:
    """Even-odd rule, as the vision pipeline's zone test."""
    x, y = pt
    hit = False
    n = len(poly)
    for i in range(n):
        x1, y1 = poly[i]
        x2, y2 = poly[(i + 1) % n]
        if (y1 <= y) != (y2 <= y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            hit = not hit
    return hit


def frame_size_for(camera: CameraConfig) -> tuple[int, int]:
    """The smallest usual frame size holding every polygon of the camera."""
    pts = [p for cz in camera.zones for p in cz.polygon] + list(camera.roi or [])
    max_x = max(x for x, _ in pts)
    max_y = max(y for _, y in pts)
    for w, h in FRAME_SIZES:
        if max_x <= w and max_y <= h:
            return (w, h)
    return (int(max_x) + 1, int(max_y) + 1)


@dataclass(slots=True)
class _Seen:
    track_id: int
    place: int
    zone: str
    point: Point


class CameraProjector:
    """Turns the people of the world into one camera's tracked boxes, frame by frame."""

    def __init__(
        self,
        camera: CameraConfig,
        rng: random.Random,
        noise: CameraNoise,
        frame_size: tuple[int, int] | None = None,
        entrances: frozenset[str] = frozenset(),
        frame_s: float = 1.0,
        floor_spots: dict[tuple[int, int], Point] | None = None,
    ) -> None:
        """``floor_spots`` is shared by the hall's cameras: where on the floor (metres) each
        person stands at each place, so that calibrated cameras whose views overlap show them
        at the same floor point."""
        self.camera = camera
        self.plan: FloorPlan | None = camera.floor.plan if camera.floor is not None else None
        self.floor_spots = floor_spots
        self.entrances = entrances
        self.rng = rng
        self.noise = noise
        self.frame_size = frame_size or frame_size_for(camera)
        self.polygons: dict[str, Poly] = {cz.zone: list(cz.polygon) for cz in camera.zones}
        self.roi: Poly | None = list(camera.roi) if camera.roi else None
        positions = camera.staff.positions if camera.staff else []
        self.staff_areas: list[Poly] = [list(p.polygon) for p in positions]
        # staff spots from their own stream: customers' spots stay as without staff positions
        self.staff_rng = random.Random(f"{camera.id}-staff")
        # identity switches from their own stream too: chance per person and frame
        self.switch_rng = random.Random(f"{camera.id}-switches")
        self.switch_prob = noise.id_switch_per_min * frame_s / 60.0
        self.margin = 2 * noise.jitter_px + 2.0
        self.walkout_frames = camera.exit_frames + 2
        self.outside = self._outside_spot()
        self._seen: dict[int, _Seen] = {}
        self._walking: dict[int, tuple[int, int]] = {}  # pid -> (track id, frames left)
        self._next_track = 1

    # ------------------------------------------------------------------ geometry

    def _clear_spot(self, pt: Point, own: str | None, staff: bool = False) -> bool:
        m = self.margin
        probes = [
            pt,
            (pt[0] - m, pt[1] - m),
            (pt[0] + m, pt[1] - m),
            (pt[0] - m, pt[1] + m),
            (pt[0] + m, pt[1] + m),
        ]
        if self.roi is not None and not all(inside(q, self.roi) for q in probes):
            return False
        in_staff_area = [any(inside(q, a) for a in self.staff_areas) for q in probes]
        if (staff and not all(in_staff_area)) or (not staff and any(in_staff_area)):
            return False
        for zone, poly in self.polygons.items():
            hits = [inside(q, poly) for q in probes]
            if (zone == own and not all(hits)) or (zone != own and any(hits)):
                return False
        return True

    def spot_in(self, zone: str, staff: bool = False) -> Point:
        """A random floor spot inside ``zone``, clear of its edges and of the other zones; for
        ``staff``, inside a staff position (where the camera has any), else outside every one."""
        poly = self.polygons[zone]
        xs = [x for x, _ in poly]
        ys = [y for _, y in poly]
        staff = staff and bool(self.staff_areas)  # no staff positions: staff stand anywhere
        rng = self.staff_rng if staff else self.rng
        for _ in range(200):
            pt = (rng.uniform(min(xs), max(xs)), rng.uniform(min(ys), max(ys)))
            if not staff:
                pt = self._in_front_of_staff(pt)
            if self._clear_spot(pt, zone, staff):
                return pt
        return (sum(xs) / len(xs), sum(ys) / len(ys))

    def _spot(self, p: Person, zone: str) -> Point:
        """Where ``p`` stands in ``zone`` in this picture: on the floor point another calibrated
        camera chose for this place when it shows in this camera's polygon too (the views
        overlap there), else a new spot (shared with the other cameras)."""
        staff = p.phase == Phase.STAFF
        if self.plan is None or self.floor_spots is None or staff:
            return self.spot_in(zone, staff=staff)
        w, h = self.frame_size
        known = self.floor_spots.get((p.pid, p.place))
        if known is not None and (img := self.plan.to_image(known)) is not None:
            pt = (img[0] * w, img[1] * h)
            if inside(pt, self.polygons[zone]):
                return pt
        spot = self.spot_in(zone)
        floor = self.plan.to_floor((spot[0] / w, spot[1] / h))
        if known is None and floor is not None:
            self.floor_spots[(p.pid, p.place)] = floor
        return spot

    def _in_front_of_staff(self, pt: Point) -> Point:
        """A customer's spot that fell in a staff position, moved just in front of it (below
        it in the image): customers stand at the desk, not behind it."""
        for area in self.staff_areas:
            if inside(pt, area):
                return (pt[0], max(y for _, y in area) + self.margin + 1.0)
        return pt

    def _outside_spot(self) -> Point | None:
        w, h = self.frame_size
        for _ in range(400):
            pt = (self.rng.uniform(10, w - 10), self.rng.uniform(10, h - 10))
            if self._clear_spot(pt, None):
                return pt
        return None

    def box(self, pt: Point) -> tuple[float, float, float, float]:
        """A person-sized box standing on ``pt`` (bottom-centre at ``pt``)."""
        _w, h_img = self.frame_size
        x, y = pt
        h = h_img * (0.18 + 0.22 * min(1.0, y / h_img))
        w = 0.38 * h
        return (x - w / 2, max(0.0, y - h), x + w / 2, y)

    # ------------------------------------------------------------------ frames

    def frame(self, people: Iterable[Person]) -> list[TrackedBox]:
        """The tracker's output for one frame showing ``people`` where they are now."""
        out: list[TrackedBox] = []
        visible: set[int] = set()
        noise = self.noise
        for p in people:
            if p.zone is None or p.zone not in self.polygons:
                continue
            visible.add(p.pid)
            seen = self._seen.get(p.pid)
            if seen is None:
                walking = self._walking.pop(p.pid, None)
                tid = walking[0] if walking else self._new_track()
                seen = _Seen(tid, -1, p.zone, (0.0, 0.0))
                self._seen[p.pid] = seen
                if not walking and self._from_the_hall(p):
                    # first seen on the hall side, then in the entrance (next frame)
                    out.append(TrackedBox(tid, self.box(self.outside or seen.point), 0.6))
                    continue
            if self.switch_prob and self.switch_rng.random() < self.switch_prob:
                seen.track_id = self._new_track()  # the tracker lost them and starts a new id
            if seen.place != p.place or seen.zone != p.zone:
                seen.place, seen.zone, seen.point = p.place, p.zone, self._spot(p, p.zone)
            if noise.dropout_prob and self.rng.random() < noise.dropout_prob:
                continue
            x, y = seen.point
            if noise.jitter_px:
                lim = 2 * noise.jitter_px
                x += max(-lim, min(lim, self.rng.gauss(0, noise.jitter_px)))
                y += max(-lim, min(lim, self.rng.gauss(0, noise.jitter_px)))
            out.append(TrackedBox(seen.track_id, self.box((x, y)), round(self.rng.uniform(0.5, 0.95), 2)))
        for pid in [pid for pid in self._seen if pid not in visible]:
            seen = self._seen.pop(pid)
            if self.outside is not None:
                self._walking[pid] = (seen.track_id, self.walkout_frames)
        for pid, (tid, left) in list(self._walking.items()):
            if pid in visible or self.outside is None:
                continue
            out.append(TrackedBox(tid, self.box(self.outside), 0.6))
            if left <= 1:
                del self._walking[pid]
            else:
                self._walking[pid] = (tid, left - 1)
        return out

    def _from_the_hall(self, p: Person) -> bool:
        """A person coming into this camera's entrance zone from elsewhere in the hall (leaving,
        loitering back) walks into view away from the door: a tracker sees them outside every
        zone first. Only someone arriving (``ENTERING``) appears at the door, in the entrance.
        """
        return self.outside is not None and p.zone in self.entrances and p.phase != Phase.ENTERING

    def _new_track(self) -> int:
        tid = self._next_track
        self._next_track += 1
        return tid
