"""The open faults of a hall, read from the device history (``device_faults``) for the
vendor service-level rule (:mod:`server.alerts.rules.vendor_sla`)."""

from __future__ import annotations

from sqlalchemy import select

from server.alerts.rules.vendor_sla import OpenFault
from server.storage.db import Database
from server.storage.models import DeviceFault


class SqlOpenFaults:
    """:class:`~server.alerts.rules.vendor_sla.FaultProvider` on the server's database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def open_faults(self, site: str) -> list[OpenFault]:
        query = (
            select(DeviceFault)
            .where(DeviceFault.site == site, DeviceFault.cleared_at.is_(None))
            .order_by(DeviceFault.raised_at, DeviceFault.id)
        )
        with self._db.session() as session:
            return [
                OpenFault(f.id, f.device, f.vendor, f.code, f.raised_at, f.acknowledged_at)
                for f in session.scalars(query)
            ]
