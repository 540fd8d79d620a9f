"""The whole system assembled: the ``lobbywatch`` command (every component's sub-commands) and
the one-machine demo. It sits above the components and may import any of them; no component
and nothing in ``lobbywatch/`` imports it (CONTRIBUTING.md, "Where things go")."""
