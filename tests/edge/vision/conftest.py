"""Helpers for the vision tests: a small hall with one camera; the bundled model as ONNX."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lobbywatch.config.site import SiteConfig

SQUARE_Q = [[0, 0], [100, 0], [100, 100], [0, 100]]
SQUARE_C = [[200, 0], [300, 0], [300, 100], [200, 100]]
SQUARE_E = [[400, 0], [500, 0], [500, 100], [400, 100]]


def make_site(site_id: str = "hall-1", **camera: Any) -> SiteConfig:
    cam: dict[str, Any] = {
        "id": "cam-1",
        "source": "video.mp4",
        "entry_frames": 2,
        "exit_frames": 3,
        "lost_track_timeout_s": 10,
        "zones": [
            {"zone": "queue-a", "polygon": SQUARE_Q},
            {"zone": "counter-1", "polygon": SQUARE_C},
            {"zone": "entrance", "polygon": SQUARE_E},
        ],
    }
    cam.update(camera)
    return SiteConfig.model_validate(
        {
            "site": site_id,
            "name": {"en": "Test hall", "zh-CN": "测试厅"},
            "opening_hours": [{"days": ["mon"], "open": "09:00", "close": "18:00"}],
            "zones": [
                {"id": "queue-a", "kind": "queue"},
                {"id": "counter-1", "kind": "counter"},
                {"id": "entrance", "kind": "entrance"},
            ],
            "counters": [{"id": "c1", "zone": "counter-1", "queue": "queue-a"}],
            "cameras": [cam],
            "thresholds": {"loiter_min": 1, "max_wait_min": 2, "transaction_min": 3},
        }
    )


@pytest.fixture
def site() -> SiteConfig:
    return make_site()


@pytest.fixture(scope="session")
def onnx_model() -> Path:
    """The ONNX export of the bundled detector that ``scripts/setup.sh`` ships to camera nodes
    (what the edge runtime runs); a missing one is a failed set-up, not a skip."""
    from edge.vision.detector import DEFAULT_MODEL

    onnx = DEFAULT_MODEL.with_suffix(".onnx")
    assert onnx.is_file(), f"{onnx} is missing: run scripts/setup.sh (it exports the model)"
    return onnx
