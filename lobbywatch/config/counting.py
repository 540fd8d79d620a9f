"""How a camera counts people: the ``counting`` block of a camera in the hall file.

One settings object for the detector (input size, thresholds, classes), the slicing planner,
the merge of the views and the scale model; the vision daemon and ``lobbywatch eval counts``
build the detector from it through the same code (:func:`edge.vision.detector.build_detector`).
Every field has a default that works on cameras it was never tuned on (scale-adaptive
slicing); a commissioning search may vary the thresholds, slicing and merge fields and write
them back. Method and defaults: docs/vision.md ("Counting").
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

NEAR_MODEL_STEM = "near-yolo11n-pose"
"""File stem of the bundled near model (YOLO11n-pose, fetched by scripts/setup.sh) and its exports."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SlicingMode(StrEnum):
    """Where the detector runs on magnified slices of the frame."""

    ADAPTIVE = "adaptive"  # only the image bands where people are too small (learned scale)
    GRID = "grid"  # a fixed rows x cols grid over the whole frame, every frame
    OFF = "off"  # the full frame only


class SlicingConfig(_Model):
    """Sliced inference: which parts of the frame are magnified, and how much."""

    mode: SlicingMode = Field(
        default=SlicingMode.ADAPTIVE,
        description=(
            "adaptive: slice only the bands where the learned person height at the full-frame "
            "input is below min_person_px; grid: a fixed rows x cols grid; off: full frame only."
        ),
    )
    imgsz: int = Field(default=640, ge=160, le=4096, description="Input size of each slice, pixels.")
    confidence: float = Field(
        default=0.15, ge=0.01, le=0.99, description="Detection threshold on slices (small people)."
    )
    min_person_px: float = Field(
        default=160,
        ge=8,
        le=512,
        description=(
            "adaptive: a band is sliced where the expected person height at the full-frame "
            "input is below this many pixels (too small for the model to find reliably)."
        ),
    )
    target_person_px: float = Field(
        default=160,
        ge=16,
        le=1024,
        description="adaptive: slices are sized so the smallest person in them is this tall at the input.",
    )
    sharp_zoom: float = Field(
        default=3.0,
        ge=1.0,
        le=16.0,
        description=(
            "A slice that magnifies the picture more than this runs at a threshold lowered in "
            "proportion (confidence x sharp_zoom / zoom): a blurrier person scores lower."
        ),
    )
    max_zoom: float = Field(
        default=4.0, ge=1.0, le=8.0, description="adaptive: at most this magnification of a slice."
    )
    max_slices: int = Field(
        default=12, ge=1, le=64, description="adaptive: at most this many slices a frame."
    )
    overlap: float = Field(
        default=0.25, ge=0, le=0.5, description="Share of a slice's width shared with its neighbour."
    )
    rows: int = Field(default=3, ge=1, le=8, description="grid: slice rows.")
    cols: int = Field(default=3, ge=1, le=8, description="grid: slice columns.")


class MergeConfig(_Model):
    """How the boxes of the full frame and of the slices become one set of people."""

    iou: float = Field(default=0.5, ge=0.05, le=0.95, description="NMS IoU threshold across views.")
    containment: float = Field(
        default=0.8,
        ge=0.3,
        le=1.0,
        description=(
            "Merge a box into a better one when this share of the smaller box lies inside it "
            "(a person cut by a slice border); 1.0 turns it off."
        ),
    )
    part_height: float = Field(
        default=0.7,
        ge=0.0,
        le=1.0,
        description=(
            "adaptive: a slice box shorter than this share of the expected person height at "
            "its row that overlaps a full-frame box is a part of that person and is dropped; "
            "0 turns it off."
        ),
    )


class ScaleConfig(_Model):
    """The scale model: person height by image row, learned from the camera's own detections."""

    min_confidence: float = Field(
        default=0.5, ge=0.1, le=0.99, description="Full-frame boxes at least this confident teach the scale."
    )
    warmup_boxes: int = Field(
        default=30,
        ge=5,
        le=10_000,
        description="Boxes needed before the scale is used (full frame until then).",
    )
    window: int = Field(
        default=2000, ge=50, le=100_000, description="The scale is fitted on the latest this many boxes."
    )
    refit_every: int = Field(default=50, ge=1, le=10_000, description="Refit after this many new boxes.")


class CountingConfig(_Model):
    """Detector, slicing, merge and scale settings of one camera (docs/vision.md, "Counting")."""

    imgsz: int = Field(default=640, ge=160, le=4096, description="Full-frame input size, pixels.")
    confidence: float = Field(
        default=0.2,
        ge=0.01,
        le=0.99,
        description="Detection threshold on the full frame (also the tracker's).",
    )
    person_classes: list[int] | None = Field(
        default=None, description="Class ids counted as a person; default: every class of the model."
    )
    near_model: Path | Literal["auto", "none"] = Field(
        default="auto",
        description=(
            "A second detector for the rows where the learned person height at the full-frame "
            "input is at least slicing.min_person_px (the rows that are not sliced): it "
            "separates people in close groups better; its class 0 is a person. 'auto': the "
            "bundled pose model beside the camera's model, in the same format "
            f"({NEAR_MODEL_STEM}.pt / .onnx / _ncnn_model; the camera's model alone, with a "
            "warning, where there is none); 'none': the camera's model everywhere; or a path "
            '(docs/vision.md, "Two models").'
        ),
    )
    near_confidence: float = Field(
        default=0.1,
        ge=0.01,
        le=0.99,
        description=(
            "Detection threshold of the near_model (its own scores): in a close group the "
            "people partly hidden behind others score low."
        ),
    )
    slicing: SlicingConfig = Field(default_factory=SlicingConfig, description="Sliced inference.")
    merge: MergeConfig = Field(default_factory=MergeConfig, description="Merging the views' boxes.")
    scale: ScaleConfig = Field(default_factory=ScaleConfig, description="The learned person scale.")
