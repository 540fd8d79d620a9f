"""What one server process does: its roles (docs/distributed.md, "Roles").

The single box runs every role in one process on the in-process bus. In the distributed mode
(``bus.kind: jetstream``) processes split them: ingest replicas accept gateway batches, API
replicas serve pages and the API, writers fill InfluxDB, workers run the alert engine for the
partitions they hold.
"""

from __future__ import annotations

from enum import StrEnum


class ServerRole(StrEnum):
    """One thing a server process does."""

    INGEST = "ingest"  # accept gateway batches: validate, deduplicate, store in the bus, commit
    API = "api"  # pages, the staff and vendor API, live streams
    WRITER = "writer"  # the time series (InfluxDB), fed from the bus
    WORKER = "worker"  # the alert engine, for the partitions this process holds


ALL_ROLES: frozenset[ServerRole] = frozenset(ServerRole)


def parse_roles(text: str) -> list[ServerRole]:
    """``"ingest,api"`` → the roles, in the enum's order; ``"all"`` → every role.

    Raises ValueError naming the unknown role and the valid ones.
    """
    names = [part.strip() for part in text.split(",") if part.strip()]
    if names == ["all"]:
        return list(ServerRole)
    valid = {r.value for r in ServerRole}
    unknown = [n for n in names if n not in valid]
    if unknown or not names:
        raise ValueError(
            f"unknown server role {', '.join(unknown) or '(none given)'}: "
            f"use 'all' or a comma-separated list of {', '.join(r.value for r in ServerRole)}"
        )
    return [r for r in ServerRole if r.value in names]
