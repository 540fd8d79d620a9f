"""The camera nodes' install profiles in pyproject.toml: one torch-free runtime each, the rest
the same, and the extra the missing-runtime error names is the one that brings the runtime."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from edge.vision.backends import RUNTIME_EXTRAS

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _extras() -> dict[str, set[str]]:
    """Each optional dependency group as the set of its distribution names."""
    groups = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    return {
        name: {re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0].lower() for req in reqs}
        for name, reqs in groups.items()
    }


def test_each_edge_profile_has_one_runtime_and_no_torch() -> None:
    extras = _extras()
    runtimes = set(RUNTIME_EXTRAS)
    for runtime, extra in RUNTIME_EXTRAS.items():
        assert extras[extra] & runtimes == {runtime}, (extra, extras[extra])
        assert not extras[extra] & {"torch", "torchvision", "ultralytics", "onnx"}, extras[extra]
    assert extras["edge"] - runtimes == extras["edge-ncnn"] - runtimes  # the same daemon otherwise
    assert runtimes <= extras["vision"]  # the set-up machine and the tests keep both
