"""Staff positions of one camera and the rules that tell staff from customers.

A camera's ``staff`` section names where staff stand (behind counters, at the guide desk, a
staff-only area) as polygons on its image, and how a track is judged to be staff: it first
appears inside a staff position (staff come from behind the counter), or it spends most of a
recent window there. Staff are left out of waits, visits and care tasks; they still count
towards a zone's occupancy unless ``occupancy_zones`` says otherwise. docs/vision.md,
"Staff", tells the whole story.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from lobbywatch.protocol.fields import Identifier

StaffPolygon = Annotated[
    list[tuple[Annotated[float, Field(ge=0)], Annotated[float, Field(ge=0)]]],
    Field(
        min_length=3,
        max_length=64,
        description="Pixel polygon [[x, y], ...] in the camera image, 3 to 64 points.",
    ),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class StaffPosition(_Model):
    """One place only staff stand (the floor behind a counter, the guide's side of the desk)."""

    id: Identifier = Field(description="Name of the position, unique on this camera.")
    polygon: StaffPolygon


class StaffRules(_Model):
    """How a track is judged to be staff (once judged, it stays staff for its whole life)."""

    first_seen_inside: bool = Field(
        default=True, description="A track first seen inside a staff position is staff."
    )
    share: float = Field(
        default=0.6,
        gt=0,
        le=1,
        description="Staff when at least this share of the track's recent time was in staff positions.",
    )
    window_s: float = Field(
        default=300, ge=10, le=7200, description="The recent window the share is taken over, seconds."
    )
    min_observed_s: float = Field(
        default=60,
        ge=0,
        le=7200,
        description="Judge the share only once the track has been seen this long, seconds.",
    )


class StaffConfig(_Model):
    """A camera's staff positions and rules."""

    positions: list[StaffPosition] = Field(
        default_factory=list, max_length=32, description="Where staff stand on this camera's image."
    )
    rules: StaffRules = Field(default_factory=StaffRules, description="How staff are recognised.")
    occupancy_zones: list[Identifier] | None = Field(
        default=None,
        description=(
            "Zones whose occupancy counts staff (default: every zone; [] : none). Waits, visits "
            "and care tasks never count staff."
        ),
    )
