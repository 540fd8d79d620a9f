"""The ground-plane calibration (issue 17): the fitted map against OpenCV, and the hall file's
checks (degenerate pairs, a mistyped pair named by its index)."""

from __future__ import annotations

import math
import random
from typing import Any

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from lobbywatch.config.floor import FloorCalibration
from lobbywatch.floor_plan import DegenerateCalibration, fit
from tests.edge.simulate.helpers_simulate import TELECOM, hall

# a camera looking down the hall: the bottom of the image near, the top far
IMAGE = [(0.0, 1.0), (1.0, 1.0), (1.0, 0.2), (0.0, 0.2)]
FLOOR = [(6.0, 0.5), (14.0, 0.5), (20.0, 6.5), (0.0, 6.5)]


def pairs(image: list[tuple[float, float]], floor: list[tuple[float, float]]) -> dict[str, Any]:
    return {"points": [{"image": list(i), "floor": list(f)} for i, f in zip(image, floor, strict=True)]}


def test_four_pairs_map_exactly_and_between_them_as_opencv() -> None:
    plan = fit(IMAGE, FLOOR)
    for i, f in zip(IMAGE, FLOOR, strict=True):
        mapped = plan.to_floor(i)
        assert mapped is not None
        assert math.dist(mapped, f) < 1e-9
    h, _ = cv2.findHomography(np.array(IMAGE), np.array(FLOOR))
    rng = random.Random(1)
    for _ in range(50):
        p = (rng.random(), rng.uniform(0.2, 1.0))
        ours = plan.to_floor(p)
        assert ours is not None
        theirs = cv2.perspectiveTransform(np.array([[p]]), h)[0][0]
        assert math.dist(ours, (float(theirs[0]), float(theirs[1]))) < 1e-6


def test_more_pairs_with_noise_fit_as_opencv_least_squares() -> None:
    exact = fit(IMAGE, FLOOR)
    rng = random.Random(2)
    image = [(rng.random(), rng.uniform(0.25, 1.0)) for _ in range(12)]
    floor = []
    for p in image:
        f = exact.to_floor(p)
        assert f is not None
        floor.append((f[0] + rng.gauss(0, 0.05), f[1] + rng.gauss(0, 0.05)))
    ours = fit(image, floor)
    h, _ = cv2.findHomography(np.array(image), np.array(floor), 0)
    for p in image:
        a = ours.to_floor(p)
        b = cv2.perspectiveTransform(np.array([[p]]), h)[0][0]
        assert a is not None
        # OpenCV refines on the reprojection error, we stop at the algebraic least squares:
        # the two agree to well within the measuring noise (5 cm)
        assert math.dist(a, (float(b[0]), float(b[1]))) < 0.05


def test_beyond_the_horizon_is_no_floor_point() -> None:
    plan = fit(IMAGE, FLOOR)
    assert plan.to_floor((0.5, 0.0)) is not None  # the top of the image is still floor
    assert plan.to_floor((0.5, -0.5)) is None  # beyond the horizon (above the frame here)


@pytest.mark.parametrize(
    "image",
    [
        [(0.1, 0.5), (0.3, 0.5), (0.6, 0.5), (0.9, 0.5)],  # all on one line
        [(0.5, 0.5)] * 4,  # one point
    ],
)
def test_degenerate_pairs_fix_no_map(image: list[tuple[float, float]]) -> None:
    with pytest.raises(DegenerateCalibration):
        fit(image, FLOOR)


def test_the_hall_file_rejects_degenerate_and_mistyped_pairs_and_names_them() -> None:
    assert FloorCalibration.model_validate(pairs(IMAGE, FLOOR)).plan.to_floor((0.5, 1.0)) is not None
    with pytest.raises(ValidationError, match="points: the points fix no homography"):
        FloorCalibration.model_validate(pairs([(0.1, 0.5), (0.3, 0.5), (0.6, 0.5), (0.9, 0.5)], FLOOR))
    with pytest.raises(ValidationError, match="at least 4"):
        FloorCalibration.model_validate(pairs(IMAGE[:3], FLOOR[:3]))
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        FloorCalibration.model_validate(pairs([(0.0, 1.0), (1.0, 1.0), (1.0, 0.2), (0.0, 1.2)], FLOOR))
    # a fifth pair with its metres swapped: the fit cannot honour it, the error names it
    five_image = [*IMAGE, (0.5, 0.6)]
    plan = fit(IMAGE, FLOOR)
    middle = plan.to_floor((0.5, 0.6))
    assert middle is not None
    with pytest.raises(ValidationError, match=r"points\[\d\]: the fitted map puts"):
        FloorCalibration.model_validate(pairs(five_image, [*FLOOR, (middle[1], middle[0])]))


def test_the_example_hall_calibrates_both_cameras_with_a_shared_strip() -> None:
    site = hall(TELECOM)
    plans = {c.id: c.floor.plan for c in site.cameras if c.floor is not None}
    assert set(plans) == {"cam-entrance", "cam-counters"}
    far = plans["cam-entrance"].to_floor((0.5, 0.2))
    near = plans["cam-counters"].to_floor((0.5, 1.0))
    assert far is not None
    assert near is not None
    assert near[1] < far[1]  # the counter camera's nearest floor is seen by the entrance camera


def test_a_floor_point_maps_back_into_the_picture_and_out_of_view_is_unseen() -> None:
    plan = fit(IMAGE, FLOOR)
    for p in [(0.1, 0.3), (0.5, 0.9), (0.9, 0.5)]:
        floor = plan.to_floor(p)
        assert floor is not None
        back = plan.to_image(floor)
        assert back is not None
        assert math.dist(back, p) < 1e-9
        assert plan.sees(floor)
    assert not plan.sees((10.0, 30.0))  # beyond the top of the picture
    assert not plan.sees((10.0, -5.0))  # behind the camera's nearest floor
