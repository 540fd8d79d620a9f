"""Loading YAML into pydantic models, with errors located by file, line and field path.

Used for every configuration file LobbyWatch reads (halls, the server), so each reports
mistakes the same way::

    hall-001.yaml:14 cameras[0].zones[2].polygon: needs at least 3 points
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)
Loc = tuple[int | str, ...]


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where} {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(ValueError):
    """A configuration file that cannot be used; ``issues`` lists every problem found."""

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


def format_loc(loc: Loc) -> str:
    """``("cameras", 0, "zones", 2)`` -> ``cameras[0].zones[2]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _line_index(node: yaml.Node | None) -> dict[Loc, int]:
    """Map every path in a composed YAML document to its 1-based line number."""
    index: dict[Loc, int] = {}

    def walk(n: yaml.Node, loc: Loc) -> None:
        index[loc] = n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            for key_node, value_node in n.value:
                key = key_node.value
                index[(*loc, key)] = key_node.start_mark.line + 1
                walk(value_node, (*loc, key))
                index[(*loc, key)] = key_node.start_mark.line + 1
        elif isinstance(n, yaml.SequenceNode):
            for i, item in enumerate(n.value):
                walk(item, (*loc, i))

    if node is not None:
        walk(node, ())
    return index


def _locate(index: dict[Loc, int], loc: Loc) -> int | None:
    """Line of ``loc``, or of its nearest ancestor present in the file."""
    for end in range(len(loc), -1, -1):
        line = index.get(loc[:end])
        if line is not None:
            return line
    return None


def _friendly(err: Any) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see the example configurations)"
    if kind == "missing":
        return "required key is missing"
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")


def load_yaml_model(
    path: Path,
    model: type[M],
    checks: Callable[[M], list[tuple[Loc, str]]] | None = None,
) -> M:
    """Read ``path`` as YAML, validate it as ``model`` and run ``checks`` on the result.

    Raises :class:`ConfigError` listing every problem with its line and field path.
    """
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([ConfigIssue(name, None, "", f"cannot read: {exc.strerror}")]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([ConfigIssue(name, line, "", f"not valid YAML: {problem}")]) from None
    index = _line_index(node)
    if not isinstance(data, dict):
        raise ConfigError([ConfigIssue(name, 1, "", "the file must hold a mapping of keys")])
    try:
        result = model.model_validate(data)
    except ValidationError as exc:
        issues = [
            ConfigIssue(name, _locate(index, tuple(e["loc"])), format_loc(tuple(e["loc"])), _friendly(e))
            for e in exc.errors(include_url=False)
        ]
        raise ConfigError(issues) from None
    if checks is not None:
        problems = checks(result)
        if problems:
            raise ConfigError(
                [ConfigIssue(name, _locate(index, loc), format_loc(loc), msg) for loc, msg in problems]
            )
    return result
