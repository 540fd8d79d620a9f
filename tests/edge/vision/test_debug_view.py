"""The opt-in debug view serves annotated JPEG frames on the loopback interface only."""

from __future__ import annotations

import http.client

import numpy as np

from edge.vision.debug_view import DebugView
from edge.vision.pipeline import TrackedBox, ZonePipeline
from lobbywatch.clock import FixedClock
from lobbywatch.config.site import SiteConfig
from lobbywatch.protocol.sequence import Stamper
from lobbywatch.services import wait_until


def test_debug_view_streams_jpeg_on_loopback(site: SiteConfig, clock: FixedClock) -> None:
    view = DebugView(0).start()
    try:
        assert view.server.server_address[0] == "127.0.0.1"
        pipe = ZonePipeline(site, "cam-1", Stamper(site.site, "cam-1", clock=clock), frame_size=(640, 480))
        frame = np.zeros((480, 640, 3), np.uint8)
        tracks = [TrackedBox(1, (40.0, 0.0, 60.0, 50.0))]
        view.show(frame, tracks, pipe)  # nobody watching: nothing drawn
        assert view._jpeg is None
        conn = http.client.HTTPConnection("127.0.0.1", view.port, timeout=10)
        conn.request("GET", "/")
        resp = conn.getresponse()
        assert resp.status == 200
        assert "multipart/x-mixed-replace" in resp.getheader("Content-Type", "")
        assert wait_until(lambda: view.viewers > 0, timeout=10)

        def shown() -> bool:
            view.show(frame, tracks, pipe)
            return view._jpeg is not None

        assert wait_until(shown, timeout=10)
        head = resp.read(200)
        assert b"Content-Type: image/jpeg" in head
        assert b"\xff\xd8" in head  # JPEG start marker
        conn.close()
    finally:
        view.stop()
