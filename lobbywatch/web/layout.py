"""What the wall draws around the live state of a hall, from its hall file: names (zh-CN and
en), zones, devices, time zone, the floor-rule numbers and ``absent_after_s``, how long the
hall's gateway may send nothing before its data is absent (the hall's
``notifications.policy.gateway_silence_s``: the limit the server's hall state and its
gateway-silence alert use, ``server.hall_state.HallState.silence_s``).

One builder for both servers of the page: the central server answers it at
``GET /api/v1/web/sites/{site}/layout`` with a token (:mod:`server.api.routes.pages`), and the
hall gateway answers it without one for the wall it serves in the hall
(:mod:`gateway.wall_http`). See docs/pages.md.
"""

from __future__ import annotations

from typing import Any

from lobbywatch.config.site import SiteConfig
from lobbywatch.protocol.enums import DeviceKind


def _name(value: object, fallback: str) -> dict[str, str]:
    """A configured name in both languages; the id where one is missing."""
    return {
        "en": getattr(value, "en", None) or fallback,
        "zh-CN": getattr(value, "zh_cn", None) or fallback,
    }


def hall_layout(cfg: SiteConfig) -> dict[str, Any]:
    """The layout of ``cfg``'s hall as JSON-ready data (zones and devices in file order)."""
    return {
        "site": cfg.site,
        "name": _name(cfg.name, cfg.site),
        "timezone": cfg.timezone,
        "max_wait_min": cfg.thresholds.max_wait_min,
        "min_working_kiosks": cfg.thresholds.min_working_kiosks,
        "hall_capacity": cfg.thresholds.hall_capacity,
        "absent_after_s": cfg.notifications.policy.gateway_silence_s,
        "zones": [
            {"id": z.id, "kind": z.kind.value, "capacity": z.capacity, "name": _name(z.name, z.id)}
            for z in cfg.zones
        ],
        "devices": [
            {
                "id": d.id,
                "kind": d.kind.value,
                "self_service": DeviceKind(d.kind).is_self_service,
                "vendor": d.vendor,
                "model": d.model,
                "zone": d.zone,
            }
            for d in cfg.devices
        ],
    }
