"""Write a camera's ``counting`` settings into a hall file, keeping its comments and layout.

Used by ``lobbywatch edge calibrate --write`` (docs/vision.md, "Commissioning"): a
``ruamel.yaml`` round trip changes only the keys written; other keys, comments, flow-style
mappings and key order stay as the installer wrote them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.scalarstring import DoubleQuotedScalarString


class HallFileEditError(ValueError):
    """The hall file has no such camera, or its layout is not a hall file's."""


def _yaml() -> YAML:
    yaml = YAML()  # round trip
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long lines
    yaml.indent(mapping=2, sequence=4, offset=2)  # the layout of deploy/examples
    return yaml


def _merge(target: CommentedMap, values: Mapping[str, Any]) -> None:
    for key, value in values.items():
        if isinstance(value, Mapping):
            sub = target.get(key)
            if not isinstance(sub, CommentedMap):
                sub = CommentedMap()
                target[key] = sub
            _merge(sub, value)
        elif isinstance(value, str):  # quoted: YAML 1.1 readers take a bare `off` for false
            target[key] = DoubleQuotedScalarString(value)
        elif isinstance(value, float) and value.is_integer():
            target[key] = int(value)
        else:
            target[key] = value


def write_counting(path: Path, camera: str, values: Mapping[str, Any]) -> None:
    """Set ``values`` (nested like the ``counting`` block) in ``camera``'s block of ``path``."""
    yaml = _yaml()
    data = yaml.load(path.read_text(encoding="utf-8"))
    cameras = data.get("cameras") if isinstance(data, CommentedMap) else None
    block = next((c for c in cameras or [] if isinstance(c, CommentedMap) and c.get("id") == camera), None)
    if block is None:
        raise HallFileEditError(f"{path}: no camera {camera!r} in its cameras list")
    counting = block.get("counting")
    if not isinstance(counting, CommentedMap):
        counting = CommentedMap()
        block["counting"] = counting
    _merge(counting, values)
    with path.open("w", encoding="utf-8") as fh:
        yaml.dump(data, fh)
