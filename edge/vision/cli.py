"""Commands of this component (see lobbywatch/cli.py for how groups are assembled)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lobbywatch.cli import Groups


def register(groups: Groups) -> None:
    """Add this component's commands to the command groups."""
