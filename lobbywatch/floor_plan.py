"""The ground-plane map of one camera: a homography from normalised image points (0..1) to
floor points in metres, fitted from a camera's calibration pairs (``floor`` in the hall file,
:mod:`lobbywatch.config.floor`).

Pure Python, so the server, the gateway and ``lobbywatch config check`` use it without
OpenCV; it gives what ``cv2.findHomography`` (method 0, least squares) gives, which a test
checks. docs/vision.md, "Floor plan and handover", tells the whole story.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Point = tuple[float, float]
Row = tuple[float, float, float]
Matrix = tuple[Row, Row, Row]

PIVOT_MIN = 1e-9  # relative, on the normalised system: below it the points fix no homography
HORIZON_MIN = 1e-6  # |w| under it: the image point lies on the floor's horizon line


class DegenerateCalibration(ValueError):
    """The point pairs fix no homography (too few, collinear, or folding the floor over)."""


@dataclass(frozen=True, slots=True)
class FloorPlan:
    """Image (normalised 0..1) to floor (metres) for one camera."""

    matrix: Matrix
    side: float  # sign of w on the visible floor (every calibration point has it)

    def to_floor(self, point: Point) -> Point | None:
        """The floor point under ``point``; ``None`` at or beyond the floor's horizon."""
        x, y = point
        (a, b, c), (d, e, f), (g, h, i) = self.matrix
        w = g * x + h * y + i
        if w * self.side < HORIZON_MIN:
            return None
        return ((a * x + b * y + c) / w, (d * x + e * y + f) / w)

    def to_image(self, floor: Point) -> Point | None:
        """The normalised image point showing ``floor``; ``None`` when behind the camera."""
        (a, b, c), (d, e, f), (g, h, i) = self.matrix
        # the adjugate: a multiple of the inverse, so the same homography
        u, v = floor
        w = (d * h - e * g) * u + (b * g - a * h) * v + (a * e - b * d)
        if w == 0:
            return None
        x = ((e * i - f * h) * u + (c * h - b * i) * v + (b * f - c * e)) / w
        y = ((f * g - d * i) * u + (a * i - c * g) * v + (c * d - a * f)) / w
        return (x, y) if self.to_floor((x, y)) is not None else None

    def sees(self, floor: Point) -> bool:
        """Whether the floor point lies in the camera's picture (its image point in 0..1)."""
        p = self.to_image(floor)
        return p is not None and 0.0 <= p[0] <= 1.0 and 0.0 <= p[1] <= 1.0


def _normaliser(points: Sequence[Point]) -> Matrix:
    """The similarity moving ``points`` to their centroid, mean distance sqrt(2) (Hartley)."""
    n = len(points)
    cx = sum(p[0] for p in points) / n
    cy = sum(p[1] for p in points) / n
    spread = sum(math.hypot(p[0] - cx, p[1] - cy) for p in points) / n
    if spread <= 0:
        raise DegenerateCalibration("all points are the same point")
    s = math.sqrt(2) / spread
    return ((s, 0.0, -s * cx), (0.0, s, -s * cy), (0.0, 0.0, 1.0))


def _apply(m: Matrix, p: Point) -> Point:
    w = m[2][0] * p[0] + m[2][1] * p[1] + m[2][2]
    return ((m[0][0] * p[0] + m[0][1] * p[1] + m[0][2]) / w, (m[1][0] * p[0] + m[1][1] * p[1] + m[1][2]) / w)


def _product(a: Matrix, b: Matrix) -> Matrix:
    rows = [tuple(sum(a[r][k] * b[k][c] for k in range(3)) for c in range(3)) for r in range(3)]
    return (
        (rows[0][0], rows[0][1], rows[0][2]),
        (rows[1][0], rows[1][1], rows[1][2]),
        (rows[2][0], rows[2][1], rows[2][2]),
    )


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting; a pivot under PIVOT_MIN (relative) is degenerate."""
    n = len(b)
    scale = max(abs(v) for row in a for v in row) or 1.0
    for col in range(n):
        piv = max(range(col, n), key=lambda r: abs(a[r][col]))
        if abs(a[piv][col]) < PIVOT_MIN * scale:
            raise DegenerateCalibration("the points fix no homography (three or more on a line?)")
        a[col], a[piv] = a[piv], a[col]
        b[col], b[piv] = b[piv], b[col]
        for r in range(col + 1, n):
            f = a[r][col] / a[col][col]
            for k in range(col, n):
                a[r][k] -= f * a[col][k]
            b[r] -= f * b[col]
    x = [0.0] * n
    for r in reversed(range(n)):
        x[r] = (b[r] - sum(a[r][k] * x[k] for k in range(r + 1, n))) / a[r][r]
    return x


def fit(image: Sequence[Point], floor: Sequence[Point]) -> FloorPlan:
    """The least-squares homography taking ``image[i]`` to ``floor[i]`` (4 or more pairs).

    Raises :class:`DegenerateCalibration` when the pairs fix none or when the fitted map puts
    calibration points on both sides of the horizon (the floor folded over).
    """
    if len(image) != len(floor) or len(image) < 4:
        raise DegenerateCalibration("four or more image/floor pairs are needed")
    t_img, t_floor = _normaliser(image), _normaliser(floor)
    src = [_apply(t_img, p) for p in image]
    dst = [_apply(t_floor, p) for p in floor]
    ata = [[0.0] * 8 for _ in range(8)]
    atb = [0.0] * 8
    for (x, y), (u, v) in zip(src, dst, strict=True):
        for row, rhs in (
            ((x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y), u),
            ((0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y), v),
        ):
            for i in range(8):
                atb[i] += row[i] * rhs
                for j in range(8):
                    ata[i][j] += row[i] * row[j]
    h = _solve(ata, atb)
    normalised: Matrix = ((h[0], h[1], h[2]), (h[3], h[4], h[5]), (h[6], h[7], 1.0))
    s, cx, cy = t_floor[0][0], -t_floor[0][2] / t_floor[0][0], -t_floor[1][2] / t_floor[0][0]
    back: Matrix = ((1 / s, 0.0, cx), (0.0, 1 / s, cy), (0.0, 0.0, 1.0))
    m = _product(back, _product(normalised, t_img))
    ws = [m[2][0] * x + m[2][1] * y + m[2][2] for x, y in image]
    side = 1.0 if ws[0] > 0 else -1.0
    if any(w * side < HORIZON_MIN for w in ws):
        raise DegenerateCalibration(
            "the fitted map folds the floor over (points on both sides of the horizon)"
        )
    return FloorPlan(m, side)
