"""Command-line options and config error handling shared by every component's commands.

A component's ``cli.py`` takes its common options from here, so ``--config``, ``--broker``,
``--password-file`` and ``--seed`` read the same everywhere, and a broken configuration file
ends every command the same way: each issue printed as ``file:line field: message`` on
stderr, exit code 2.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from lobbywatch.config.loader import ConfigError

if TYPE_CHECKING:
    from lobbywatch.config.site import SiteConfig

CONFIG_ERROR_EXIT = 2

HallConfigOpt = Annotated[Path, typer.Option("--config", help="Hall configuration (YAML).")]
BrokerOpt = Annotated[
    str | None,
    typer.Option("--broker", help="Broker URL, mqtt://[user@]host:port; default: the config's broker."),
]
PasswordFileOpt = Annotated[
    Path | None, typer.Option("--password-file", help="File holding the MQTT password.")
]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Random seed (repeatable runs).")]
LogFormatOpt = Annotated[
    str,
    typer.Option(
        "--log-format",
        help="text, or json: one JSON object per line for log collectors (docs/deploy.md, Logs).",
    ),
]


def checked_log_format(value: str) -> Literal["text", "json"]:
    """``--log-format`` checked: text or json (anything else ends the command, exit 2)."""
    if value not in ("text", "json"):
        raise fail(f"--log-format must be text or json, not {value!r}", "--log-format 只能是 text 或 json")
    return "json" if value == "json" else "text"


def fail(en: str, zh: str, code: int = CONFIG_ERROR_EXIT) -> typer.Exit:
    """Print a bilingual error on stderr; ``raise fail(...)`` ends the command with ``code``."""
    typer.echo(f"error: {en}\n错误：{zh}", err=True)
    return typer.Exit(code)


@contextmanager
def exit_on_config_error() -> Iterator[None]:
    """Inside: a :class:`ConfigError` prints every issue and exits with code 2."""
    try:
        yield
    except ConfigError as exc:
        for issue in exc.issues:
            typer.echo(str(issue), err=True)
        raise typer.Exit(CONFIG_ERROR_EXIT) from None


def load_site_or_exit(path: Path) -> SiteConfig:
    """The hall configuration at ``path``, or exit 2 naming each problem with its line."""
    from lobbywatch.config import load_site_config

    with exit_on_config_error():
        return load_site_config(path)
