"""The gateway's small HTTP servers on the hall's network (health, the ticket intake, the wall
page): each a threaded standard-library server on its own daemon thread, started and stopped
the same way."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LocalHttpServer:
    """Binds ``handler`` on ``host:port`` at construction (``port`` 0: any free port, read back in
    ``port``), serves from a daemon thread named ``name`` between :meth:`start` and :meth:`stop`."""

    def __init__(self, host: str, port: int, handler: type[BaseHTTPRequestHandler], name: str) -> None:
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
