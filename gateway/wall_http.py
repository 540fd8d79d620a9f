"""The wall page served from inside the hall: ``GET /wall/{site}``, ``GET /web/static/{name}``
and the hall's layout, ``GET /api/v1/web/sites/{site}/layout``.

A display that starts while the WAN is down cannot load the page from the central server, so
the gateway serves the same files (:mod:`lobbywatch.web`, shared package data) with the same
headers (CSP, frame-ancestors, nosniff, referrer policy), and the layout from its hall file
(:func:`lobbywatch.web.layout.hall_layout`: names, zones, devices, thresholds and the
hall's silence limit, the same as the server's). Opened with ``?hall=ws://...``, the page needs no server at
all: it reads the hall broker's WebSocket listener with the read-only ``display`` account.
Only the wall of this gateway's hall is served, without a token (no live data here: that
comes from the broker); nothing else. Off unless ``gateway.wall_port`` is set. See
docs/pages.md ("In-hall mode").
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from gateway.local_http import LocalHttpServer
from lobbywatch.web import PAGE_HEADERS, WALL_HEADERS, asset, content_type

STATIC_PREFIX = "/web/static/"


def wall_path(site: str) -> str:
    return f"/wall/{site}"


def layout_path(site: str) -> str:
    """The path of the layout, the same as on the central server."""
    return f"/api/v1/web/sites/{site}/layout"


def answer(site: str, path: str, layout: str | None = None) -> tuple[int, bytes, dict[str, str]]:
    """Status, body and headers for a ``GET`` of ``path`` (its query ignored); ``layout``: the
    hall's layout as JSON (404 without)."""
    route = urlsplit(path).path
    if route == layout_path(site) and layout is not None:
        return 200, layout.encode(), {**PAGE_HEADERS, "Content-Type": "application/json"}
    if route in (wall_path(site), wall_path(site) + "/"):
        name, headers = "wall.html", WALL_HEADERS
    elif route.startswith(STATIC_PREFIX):
        name, headers = route[len(STATIC_PREFIX) :], PAGE_HEADERS
    else:
        return 404, f"not found: try {wall_path(site)}?hall=ws://...\n".encode(), _text(PAGE_HEADERS)
    body, media_type = asset(name), content_type(name)
    if body is None or media_type is None:
        return 404, f"no static file {name!r}\n".encode(), _text(PAGE_HEADERS)
    return 200, body, {**headers, "Content-Type": media_type}


def _text(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "Content-Type": "text/plain; charset=utf-8"}


class WallServer(LocalHttpServer):
    """Serves the wall of ``site`` (and its ``layout``, JSON) on ``host:port`` from a daemon thread."""

    def __init__(self, host: str, port: int, site: str, layout: str | None = None) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._send(*answer(site, self.path, layout), with_body=True)

            def do_HEAD(self) -> None:
                self._send(*answer(site, self.path, layout), with_body=False)

            def _send(self, status: int, body: bytes, headers: dict[str, str], *, with_body: bool) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if with_body:
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(host, port, Handler, "gw-wall")
