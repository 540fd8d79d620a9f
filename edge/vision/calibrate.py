"""Commissioning calibration: fit a camera's counting settings to snapshots counted by hand.

An installer counts the people in 10-30 snapshots of the camera; the snapshots are split into
a search part and a held-out part (:func:`split_snapshots`), a coordinate search over the few
settings that matter (:data:`AXES`: full-frame and slice thresholds, where slicing starts,
merge containment, and the near model's threshold where the camera runs one) starts from the
camera's current settings and minimises the count error on the search part, and the held-out
error before and after says whether the change is real. Detector passes are the cost, so every
(image, view) is run once at the lowest threshold searched and cached (:class:`CachedBackend`);
thresholds and merges are re-applied from the cache. Procedure: docs/vision.md ("Commissioning").
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.vision.detector import Detections, Frame, PersonDetector
from edge.vision.evaluate import EvalInputError, EvalSummary, evaluate_counts, read_image, read_truth
from lobbywatch.config.counting import CountingConfig, SlicingMode

if TYPE_CHECKING:
    from edge.vision.backends import DetectorBackend
    from edge.vision.zones import Polygon

MIN_SNAPSHOTS = 10  # fewer counted snapshots give a held-out part too small to trust
HOLDOUT_EVERY = 3  # one snapshot in three (by true count) is held out
PASSES_PER_SNAPSHOT = 30  # default pass budget: ~10 min for 20 snapshots on a Pi-class CPU
ROUNDS = 2  # coordinate-search sweeps over the axes

FULL_CONFIDENCE = (0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)
SLICE_CONFIDENCE = (0.1, 0.15, 0.2, 0.25, 0.3, 0.4)
SLICE_BELOW_PX = (80.0, 120.0, 160.0, 240.0)  # adaptive slicing where people are smaller
CONTAINMENT = (0.6, 0.7, 0.8, 0.9, 1.0)
NEAR_CONFIDENCE = (0.05, 0.1, 0.2)  # searched only where the camera runs a near model


class PassBudgetSpent(RuntimeError):
    """Evaluating a setting needs more new detector passes than the search has left."""


@dataclass(frozen=True, slots=True)
class Knobs:
    """The settings the search varies (the rest of the camera's ``counting`` block stays).

    ``near_confidence`` is None where the camera runs no near model: then it is neither searched
    nor written.
    """

    confidence: float
    slicing: SlicingMode
    min_person_px: float
    slice_confidence: float
    containment: float
    near_confidence: float | None = None

    @classmethod
    def of(cls, settings: CountingConfig, *, near_model: bool = False) -> Knobs:
        """The knobs of ``settings``; ``near_model``: the camera runs one (its threshold is a knob)."""
        s, m = settings.slicing, settings.merge
        near = settings.near_confidence if near_model else None
        return cls(settings.confidence, s.mode, s.min_person_px, s.confidence, m.containment, near)

    def apply(self, settings: CountingConfig) -> CountingConfig:
        """``settings`` with these values (validated like a hall file's block)."""
        data = settings.model_dump(mode="json")
        data.update(self.as_block())
        data["slicing"] = {**settings.slicing.model_dump(mode="json"), **data["slicing"]}
        data["merge"] = {**settings.merge.model_dump(mode="json"), **data["merge"]}
        return CountingConfig.model_validate(data)

    def as_block(self) -> dict[str, Any]:
        """The fields of a ``counting`` block that these values set (what ``--write`` writes)."""
        slicing: dict[str, Any] = {"mode": self.slicing.value}
        if self.slicing != SlicingMode.OFF:
            slicing["confidence"] = self.slice_confidence
        if self.slicing == SlicingMode.ADAPTIVE:
            slicing["min_person_px"] = self.min_person_px
        merge = {"containment": self.containment}
        block: dict[str, Any] = {"confidence": self.confidence, "slicing": slicing, "merge": merge}
        if self.near_confidence is not None:  # only for a camera searched with a near model
            block["near_confidence"] = self.near_confidence
        return block


def _slicing_axis(k: Knobs) -> list[Knobs]:
    options = [(SlicingMode.OFF, k.min_person_px)] + [(SlicingMode.ADAPTIVE, px) for px in SLICE_BELOW_PX]
    options.sort(key=lambda o: (o[0] == SlicingMode.OFF, abs(math.log(o[1] / k.min_person_px))))
    return [replace(k, slicing=m, min_person_px=px) for m, px in options]


def _near_axis(k: Knobs) -> list[Knobs]:
    if k.near_confidence is None:  # no near model: nothing to search
        return []
    return [replace(k, near_confidence=v) for v in NEAR_CONFIDENCE]


# Costly first: where slicing starts needs new passes; the other axes re-use the cache.
AXES: tuple[Callable[[Knobs], list[Knobs]], ...] = (
    _slicing_axis,
    lambda k: [replace(k, containment=v) for v in CONTAINMENT],
    lambda k: [replace(k, slice_confidence=v) for v in SLICE_CONFIDENCE],
    lambda k: [replace(k, confidence=v) for v in FULL_CONFIDENCE],
    _near_axis,
)


@dataclass(order=True, frozen=True, slots=True)
class Score:
    """A setting's error on a set of snapshots: MAE first, then the size of the bias."""

    mae: float
    abs_bias: float


def coordinate_search(
    start: Knobs, score: Callable[[Knobs], Score | None], rounds: int = ROUNDS
) -> tuple[Knobs, dict[Knobs, Score | None]]:
    """The best knobs found from ``start`` by sweeping each axis in turn, ``rounds`` times.

    ``score`` returns None for a setting it cannot afford (the pass budget); a value replaces
    the current one only when it scores strictly better, so ties keep the starting setting.
    Returns the best knobs and the score of every setting tried (each is scored once).
    """
    scores: dict[Knobs, Score | None] = {start: score(start)}
    best, best_score = start, scores[start]
    if best_score is None:
        raise PassBudgetSpent("the pass budget does not cover even the starting settings")
    for _ in range(rounds):
        improved = False
        for axis in AXES:
            for cand in axis(best):
                if cand not in scores:
                    scores[cand] = score(cand)
                s = scores[cand]
                if s is not None and s < best_score:
                    best, best_score, improved = cand, s, True
        if not improved:
            break
    return best, scores


class CachedBackend:
    """A backend that runs each (image, input size) once, at ``floor``, and filters by ``conf``.

    Filtering the floor's boxes by a higher threshold gives exactly what the model returns at
    that threshold (NMS keeps boxes best first, so lower boxes never suppress higher ones).
    A view asked for below the floor (a slice that magnifies a small picture, whose threshold
    is lowered) is run again at that threshold, which becomes its floor.
    ``passes`` counts the model runs; one more than ``budget`` (None: no limit) raises
    :class:`PassBudgetSpent`.
    """

    name = "cached"

    def __init__(self, backend: DetectorBackend, floor: float, budget: int | None) -> None:
        self.backend = backend
        self.floor = floor
        self.budget = budget
        self.passes = 0
        self._cache: dict[tuple[Any, ...], tuple[float, Detections]] = {}

    def predict(
        self, images: list[Frame], *, imgsz: int, conf: float, iou: float, classes: list[int] | None
    ) -> list[Detections]:
        cls = tuple(classes) if classes is not None else None
        keys = [(hashlib.sha1(im.tobytes()).hexdigest(), im.shape, imgsz, iou, cls) for im in images]
        missing = [i for i, key in enumerate(keys) if key not in self._cache or self._cache[key][0] > conf]
        if missing:
            if self.budget is not None and self.passes + len(missing) > self.budget:
                raise PassBudgetSpent(f"{self.budget} detector passes spent")
            self.passes += len(missing)
            floor = min(self.floor, conf)
            found = self.backend.predict(
                [images[i] for i in missing], imgsz=imgsz, conf=floor, iou=iou, classes=classes
            )
            for i, d in zip(missing, found, strict=True):
                self._cache[keys[i]] = (floor, d)
        return [self._cache[k][1].select(self._cache[k][1].conf >= conf) for k in keys]


def read_snapshots(images: Path, truth: Path) -> list[tuple[str, int]]:
    """The counted snapshots of ``truth`` (``image,persons``), checked for calibration."""
    rows = read_truth(truth)
    seen: dict[str, int] = {}
    for lineno, (name, _n) in enumerate(rows, start=2):
        if name in seen:
            raise EvalInputError(f"{truth}:{lineno}: {name} is counted twice (first on line {seen[name]})")
        seen[name] = lineno
        if not (images / name).is_file():
            raise EvalInputError(f"{truth}:{lineno}: no image {images / name}")
    if len(rows) < MIN_SNAPSHOTS:
        raise EvalInputError(
            f"{truth}: {len(rows)} counted snapshots; calibration needs at least {MIN_SNAPSHOTS}"
        )
    return rows


def split_snapshots(rows: Sequence[tuple[str, int]]) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(search, held-out): ordered by true count then name, every third one is held out.

    Deterministic, and the held-out part spans the range of counts like the search part.
    """
    ordered = sorted(rows, key=lambda r: (r[1], r[0]))
    held = [r for i, r in enumerate(ordered) if i % HOLDOUT_EVERY == 1]
    search = [r for i, r in enumerate(ordered) if i % HOLDOUT_EVERY != 1]
    return search, held


@dataclass(frozen=True, slots=True)
class Calibration:
    """What a calibration found: held-out error before and after, the chosen settings."""

    start: Knobs
    chosen: Knobs
    before: EvalSummary  # held-out, starting settings
    after: EvalSummary  # held-out, chosen settings
    search_rows: int
    held_rows: int
    settings_tried: int
    settings_skipped: int  # tried but over the pass budget
    passes: int
    settings: CountingConfig = field(repr=False)  # the camera's block with the chosen values

    @property
    def improved(self) -> bool:
        return self.after.mae < self.before.mae

    @property
    def from_defaults(self) -> bool:
        """The search started from the documented defaults (the camera sets none of these)."""
        return self.start == Knobs.of(CountingConfig(), near_model=self.start.near_confidence is not None)


def calibrate(
    images: Path,
    rows: Sequence[tuple[str, int]],
    settings: CountingConfig,
    backend: DetectorBackend,
    *,
    roi: Polygon | None = None,
    max_passes: int | None = None,
    near_backend: DetectorBackend | None = None,
) -> Calibration:
    """Search the counting settings of one camera on counted snapshots (module docstring).

    Each setting is scored with a fresh detector that first learns the person scale from all
    the snapshots (full frame only, as ``eval counts`` does), then counts the search part.
    When the chosen settings do not lower the held-out MAE, the starting settings are kept.
    ``near_backend`` is the camera's near model (None: it runs none); with one, its threshold
    ``near_confidence`` is searched too.
    """
    search, held = split_snapshots(rows)
    start = Knobs.of(settings, near_model=near_backend is not None)
    floor = min(*FULL_CONFIDENCE, *SLICE_CONFIDENCE, start.confidence, start.slice_confidence)
    budget = max_passes if max_passes is not None else PASSES_PER_SNAPSHOT * len(rows)
    cached = CachedBackend(backend, floor, budget)
    # The camera's near model, run once per snapshot too (not in the budget), at the lowest
    # near threshold searched.
    near = None
    if near_backend is not None:
        near = CachedBackend(near_backend, min(*NEAR_CONFIDENCE, settings.near_confidence), None)
    frames = [read_image(images / name) for name, _n in rows]

    def measure(knobs: Knobs, part: Sequence[tuple[str, int]]) -> EvalSummary:
        detector = PersonDetector(settings=knobs.apply(settings), roi=roi, backend=cached, near_backend=near)
        for frame in frames:
            detector.learn(frame)
        detector.end_learning()
        return evaluate_counts(images, part, detector, roi=roi, learn_from=0, progress=None)

    def score(knobs: Knobs) -> Score | None:
        try:
            s = measure(knobs, search)
        except PassBudgetSpent:
            return None
        return Score(s.mae, abs(s.bias))

    chosen, scores = coordinate_search(start, score)
    cached.budget = None  # the budget bounds the search; the held-out check of two settings is extra
    before = measure(start, held)
    after = measure(chosen, held) if chosen != start else before
    if after.mae >= before.mae:
        chosen, after = start, before
    return Calibration(
        start=start,
        chosen=chosen,
        before=before,
        after=after,
        search_rows=len(search),
        held_rows=len(held),
        settings_tried=len(scores),
        settings_skipped=sum(1 for v in scores.values() if v is None),
        passes=cached.passes,
        settings=chosen.apply(settings),
    )
