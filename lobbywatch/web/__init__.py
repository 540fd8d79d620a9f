"""The built-in web pages' files and the headers they are served with, shared by their two servers.

``static/`` holds the wall, staff, counter and guide pages (plain HTML, CSS and JavaScript
shipped as package data; no build step, no CDN, no external fonts). The central server serves
them all (:mod:`server.api.routes.pages`); the hall gateway serves the wall in hall mode
(:mod:`gateway.wall_http`), so a display can start while the WAN is down. Both read the files
with :func:`asset` and send :data:`PAGE_HEADERS` / :data:`WALL_HEADERS`; the wall's layout is
:mod:`lobbywatch.web.layout`'s. See docs/pages.md.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

#: The names ``/web/static/{name}`` may ask for: one plain file name, no path.
ASSET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\.[a-z0-9]+$")

STATIC_TYPES: dict[str, str] = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
}
#: Headers of every page and asset. The pages load only their own scripts and styles (no
#: inline code; JS setting ``element.style`` is not inline style) and talk only to the server
#: that served them. Wall displays run full-screen in a browser of their own, never inside
#: another site's frame: ``frame-ancestors 'none'`` (and ``X-Frame-Options: DENY`` for old
#: browsers) stops click-jacking the staff page's acknowledge button. See docs/pages.md.
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
#: in-hall mode, docs/pages.md); the other pages talk only to the server that served them.
WALL_HEADERS = {
    **PAGE_HEADERS,
    "Content-Security-Policy": PAGE_HEADERS["Content-Security-Policy"].replace(
        "connect-src 'self'", "connect-src 'self' ws: wss:"
    ),
}


@lru_cache(maxsize=64)
def asset(name: str) -> bytes | None:
    """The bytes of ``static/<name>``, or None when there is no such file (or ``name`` is
    not a plain file name)."""
    if not ASSET_NAME.match(name):
        return None
    node = resources.files(__name__).joinpath("static", name)
    return node.read_bytes() if node.is_file() else None


def content_type(name: str) -> str | None:
    """The ``Content-Type`` of a static file by its suffix; None for a type not served."""
    suffix = name[name.rfind(".") :] if "." in name else ""
    return STATIC_TYPES.get(suffix)
