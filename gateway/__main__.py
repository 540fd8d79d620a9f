"""``python -m gateway run --config HALL.yaml [...]``: the same as ``lobbywatch gateway run``,
without loading the other components' commands."""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, cast

import typer

from gateway.cli import register

if TYPE_CHECKING:
    from lobbywatch.cli import Groups


def main() -> None:
    app = typer.Typer(add_completion=False, no_args_is_help=True)
    register(cast("Groups", SimpleNamespace(gateway=app)))

    @app.callback()
    def _root() -> None:
        """The hall gateway."""

    app()


if __name__ == "__main__":
    main()
