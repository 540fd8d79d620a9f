"""``lobbywatch/series.py`` and the table of docs/data-model.md name the same series."""

from __future__ import annotations

import re
from pathlib import Path

from lobbywatch.series import ALL, SITE, Series

DATA_MODEL = Path(__file__).resolve().parents[2] / "docs" / "data-model.md"


def _names(cell: str) -> tuple[str, ...]:
    """The back-quoted names of a table cell, leaving out what parentheses explain."""
    return tuple(re.findall(r"`([^`]+)`", re.sub(r"\([^()]*\)", "", cell)))


def documented() -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Measurement -> (tags, fields), in the order of the data model's table."""
    table: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    for line in DATA_MODEL.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"`\w+`", cells[0]):
            table[cells[0].strip("`")] = (_names(cells[1]), _names(cells[2]))
    return table


def test_every_documented_measurement_is_defined_with_its_tags_and_fields() -> None:
    table = documented()
    assert list(table) == [s.MEASUREMENT for s in ALL]
    for series in ALL:
        assert table[series.MEASUREMENT] == (series.TAGS, series.FIELDS), series.__name__


def test_every_measurement_is_tagged_by_site_and_its_constants_are_listed() -> None:
    for series in ALL:
        assert series.TAGS[0] == SITE
        constants = {
            value
            for name, value in vars(series).items()
            if name.isupper() and name not in ("MEASUREMENT", "TAGS", "FIELDS")
        }
        assert constants | {Series.SITE} == set(series.TAGS) | set(series.FIELDS), series.__name__
        assert not set(series.TAGS) & set(series.FIELDS), series.__name__
