"""``python -m system ...``: the same as the ``lobbywatch`` command."""

from system.cli import main

main()
