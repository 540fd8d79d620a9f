"""Opt-in local debug view: the annotated picture as MJPEG on 127.0.0.1 only.

For installers checking zones and counts on the real picture. It binds to the loopback
interface, so no image leaves the node (reach it through an SSH tunnel). Frames are only
drawn and encoded while someone is watching.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from edge.vision.pipeline import TrackedBox, ZonePipeline
from edge.vision.source import Frame

log = logging.getLogger(__name__)
BOUNDARY = b"lobbywatchframe"


class DebugView:
    """Serves ``/`` as a multipart MJPEG stream of annotated frames."""

    def __init__(self, port: int) -> None:
        self._cond = threading.Condition()
        self._jpeg: bytes | None = None
        self.viewers = 0
        view = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY.decode()}")
                self.end_headers()
                with view._cond:
                    view.viewers += 1
                try:
                    while True:
                        with view._cond:
                            view._cond.wait(timeout=5)
                            jpeg = view._jpeg
                        if jpeg is None:
                            continue
                        self.wfile.write(b"--" + BOUNDARY + b"\r\nContent-Type: image/jpeg\r\n")
                        self.wfile.write(f"Content-Length: {len(jpeg)}\r\n\r\n".encode())
                        self.wfile.write(jpeg + b"\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with view._cond:
                        view.viewers -= 1

            def log_message(self, format: str, *args: object) -> None:
                log.debug("debug view: " + format, *args)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, name="debug-view", daemon=True)

    def start(self) -> DebugView:
        self._thread.start()
        log.info("debug view on http://127.0.0.1:%d/ (local only)", self.port)
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def show(self, frame: Frame, tracks: Sequence[TrackedBox], pipeline: ZonePipeline) -> None:
        """Draw zones, boxes and counts on a copy of ``frame`` (only while someone watches)."""
        if self.viewers <= 0:
            return
        import cv2

        img = frame.copy()
        for z in pipeline.zones.values():
            pts = np.asarray(z.polygon, np.int32).reshape(-1, 1, 2)
            cv2.polylines(img, [pts], True, (255, 200, 0), 2)
            x, y = int(pts[0, 0, 0]), int(pts[0, 0, 1])
            label = f"{z.id}: {z.count} (occ {z.occupancy:.1f})"
            cv2.putText(img, label, (x + 4, y + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 200, 0), 1)
        for t in tracks:
            x1, y1, x2, y2 = (int(v) for v in t.xyxy)
            cv2.rectangle(img, (x1, y1), (x2, y2), (0, 255, 0), 1)
            cv2.circle(img, ((x1 + x2) // 2, y2), 3, (0, 0, 255), -1)
            cv2.putText(img, str(t.track_id), (x1, y1 - 2), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 255, 0), 1)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 70])
        if ok:
            with self._cond:
                self._jpeg = buf.tobytes()
                self._cond.notify_all()
