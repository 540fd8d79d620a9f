"""The pages' files (``static/``, package data) and the headers they are served with.

Served by the central server (:mod:`server.api.routes.pages`) and, for the wall's in-hall
mode, by the gateway's local HTTP server (:mod:`gateway.health`). No web framework here, so
the gateway can serve them without one. See docs/pages.md.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

ASSET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\.[a-z0-9]+$")

STATIC_TYPES: dict[str, str] = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
}
#: Headers of every page and asset. The pages load only their own scripts and styles (no
#: inline code; JS setting ``element.style`` is not inline style) and talk only to the
#: server that serves them. Wall displays run full-screen in a browser of their own, never inside another
#: site's frame: ``frame-ancestors 'none'`` (and ``X-Frame-Options: DENY`` for old browsers)
#: stops click-jacking the staff page's acknowledge button. See docs/pages.md.
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
#: The wall may also open a WebSocket to the hall broker it is given (``?hall=ws://...``, the
#: in-hall mode, docs/pages.md); the other pages talk only to this server.
WALL_HEADERS = {
    **PAGE_HEADERS,
    "Content-Security-Policy": PAGE_HEADERS["Content-Security-Policy"].replace(
        "connect-src 'self'", "connect-src 'self' ws: wss:"
    ),
}


@lru_cache(maxsize=64)
def page_asset(name: str) -> bytes | None:
    """The bytes of ``static/<name>``, or None when there is no such file."""
    if not ASSET_NAME.match(name):
        return None
    node = resources.files("server.web").joinpath("static", name)
    return node.read_bytes() if node.is_file() else None


def static_asset(name: str) -> tuple[bytes, str] | None:
    """An asset the pages load (``/web/static/<name>``) and its content type, or None."""
    body = page_asset(name)
    suffix = name[name.rfind(".") :] if "." in name else ""
    if body is None or suffix not in STATIC_TYPES:
        return None
    return body, STATIC_TYPES[suffix]


__all__ = ["PAGE_HEADERS", "STATIC_TYPES", "WALL_HEADERS", "page_asset", "static_asset"]
