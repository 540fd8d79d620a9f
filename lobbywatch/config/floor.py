"""A camera's ground-plane calibration: four or more pairs of a point in the camera image
(normalised 0..1, x to the right, y down) and the same point on the hall's floor plan
(metres, one plan per hall). Validated when the hall file loads: the pairs must fix a
homography (:mod:`lobbywatch.floor_plan`) and each must lie within ``max_error_m`` of where
the fitted map puts it; the error names the pair. docs/vision.md, "Floor plan and handover".
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lobbywatch.floor_plan import DegenerateCalibration, FloorPlan, fit

Unit = Annotated[float, Field(ge=0, le=1)]
Metres = Annotated[float, Field(ge=-10_000, le=10_000)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class FloorPair(_Model):
    """One point seen in the image and measured on the floor."""

    image: tuple[Unit, Unit] = Field(description="(x, y) in the camera image, normalised 0..1.")
    floor: tuple[Metres, Metres] = Field(description="(x, y) on the hall's floor plan, metres.")


class FloorCalibration(_Model):
    """Where the camera's image lies on the hall's floor plan."""

    points: list[FloorPair] = Field(
        min_length=4, max_length=64, description="Four or more image/floor pairs, spread over the floor."
    )
    max_error_m: float = Field(
        default=0.5,
        gt=0,
        le=10,
        description="Largest distance allowed between a measured floor point and the fitted map's, metres.",
    )

    @model_validator(mode="after")
    def _fits(self) -> FloorCalibration:
        try:
            plan = self.plan
        except DegenerateCalibration as e:
            raise ValueError(f"points: {e}") from None
        for i, pair in enumerate(self.points):
            mapped = plan.to_floor(pair.image)
            if mapped is None:  # fit() keeps every pair in front of the horizon
                raise ValueError(f"points[{i}]: on the floor's horizon")
            error = math.dist(mapped, pair.floor)
            if error > self.max_error_m:
                raise ValueError(
                    f"points[{i}]: the fitted map puts image {list(pair.image)} at "
                    f"[{mapped[0]:.2f}, {mapped[1]:.2f}] m, {error:.2f} m from the measured "
                    f"{list(pair.floor)} (max_error_m {self.max_error_m:g}): a pair is mistyped?"
                )
        return self

    @cached_property
    def plan(self) -> FloorPlan:
        """The fitted image-to-floor map."""
        return fit([p.image for p in self.points], [p.floor for p in self.points])
