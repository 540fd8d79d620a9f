"""The halls a server knows: their configurations and the device -> (vendor, kind) map.

Filled by :meth:`server.context.ServerContext.start` from the hall files and the stored
devices; read by ingest (wait limits, device vendors), the alert engine and the API's site
checks. See docs/server.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lobbywatch.config.site import SiteConfig
from lobbywatch.protocol.messages import DeviceStatus, Envelope
from server.ingest_prepare import DEFAULT_WAIT_LIMIT_S


@dataclass
class SiteRegistry:
    """Hall configurations and the device -> (vendor, kind) map."""

    configs: dict[str, SiteConfig] = field(default_factory=dict)
    devices: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)

    def wait_limit_s(self, site: str) -> float:
        cfg = self.configs.get(site)
        return DEFAULT_WAIT_LIMIT_S if cfg is None else cfg.thresholds.max_wait_min * 60

    def wait_limits(self) -> dict[str, float]:
        """Every hall's wait limit in seconds (what the stateless half needs)."""
        return {site: self.wait_limit_s(site) for site in self.configs}

    def identity(self, msg: Envelope) -> tuple[str, str]:
        """(vendor, kind) of the device that sent ``msg``: as stored, else ``unknown`` and the
        kind its status tells (ingest and the API's live state create device records alike)."""
        vendor, kind = self.devices.get((msg.site, msg.source), ("unknown", ""))
        if isinstance(msg, DeviceStatus) and msg.info is not None and not kind:
            kind = msg.info.kind.value
        return vendor, kind
