"""Snapshots of halls as the alert engine holds them: what a worker keeps in the bus's KV bucket
so that the next owner of a partition goes on where it stopped (docs/distributed.md, "Workers").

A snapshot is each hall's :class:`~server.alerts.site.SiteState` (conditions and their timers,
open and recently resolved alerts, muting, catch-up, arrival windows, care tasks, the device
faults the rules have seen) and its record in the engine's hall state (devices, heartbeats,
gateways, zones, counters, cameras), pickled. The shared objects are not in it: the hall state
and the hall configurations are named, and bound again on load to the loading engine's hall
state and today's configuration. Pickle is read only from the deployment's own NATS bucket,
written by its own workers (as trusted as the stream); a snapshot of another format version,
or of a hall no longer configured, is refused and the halls start from SQL.
"""

from __future__ import annotations

import dataclasses
import io
import pickle
from collections.abc import Mapping
from typing import Any

from lobbywatch.config.site import SiteConfig
from server.alerts.site import SiteState
from server.hall_records import Hall
from server.hall_state import HallState

FORMAT = 1


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, hall: HallState) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.hall = hall

    def persistent_id(self, obj: Any) -> Any:
        if obj is self.hall:
            return "hall"
        if isinstance(obj, SiteConfig):
            return ("cfg", obj.site)
        return None


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, hall: HallState, configs: Mapping[str, SiteConfig]) -> None:
        super().__init__(file)
        self.hall = hall
        self.configs = configs

    def persistent_load(self, pid: Any) -> Any:
        if pid == "hall":
            return self.hall
        if isinstance(pid, tuple) and pid[0] == "cfg":
            cfg = self.configs.get(pid[1])
            if cfg is None:
                raise pickle.UnpicklingError(f"hall {pid[1]} is no longer configured")
            return cfg
        raise pickle.UnpicklingError(f"unknown reference {pid!r}")


def dump_sites(hall: HallState, states: Mapping[str, SiteState]) -> bytes:
    """``states`` and their halls' records in ``hall`` (call under the engine's lock)."""
    buf = io.BytesIO()
    records = {site: hall.hall(site) for site in states}
    _Pickler(buf, hall).dump({"format": FORMAT, "sites": dict(states), "halls": records})
    return buf.getvalue()


def load_sites(blob: bytes, hall: HallState, configs: Mapping[str, SiteConfig]) -> list[SiteState]:
    """The states of a snapshot, bound to ``hall`` (whose records of those halls it replaces)
    and to ``configs``; raises ``pickle.UnpicklingError`` or ``ValueError`` when unusable."""
    data = _Unpickler(io.BytesIO(blob), hall, configs).load()
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError("a snapshot of another format")
    records: dict[str, Hall] = data["halls"]
    for site, record in records.items():
        target = hall.hall(site)
        for f in dataclasses.fields(Hall):
            setattr(target, f.name, getattr(record, f.name))
    states: dict[str, SiteState] = data["sites"]
    return list(states.values())
