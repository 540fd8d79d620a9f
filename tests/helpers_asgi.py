"""An ASGI app (the server's, a receiver's) served by uvicorn in a thread of the test process.

For tests and benchmarks that need the real HTTP stack in-process; the server in production
runs under ``lobbywatch server run``.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Self

from lobbywatch.services import ServiceStartError, free_port, wait_until


class ThreadedAsgiServer:
    """An ASGI app under uvicorn in a daemon thread on a free loopback port (tests, benchmarks).

    ::

        with ThreadedAsgiServer(app, "web-test-server") as srv:
            httpx.get(srv.url + "/healthz")
    """

    def __init__(self, app: object, name: str = "asgi-server", port: int | None = None) -> None:
        """``port``: serve on this one (e.g. the port of a server stopped before); default: a free one."""
        import uvicorn

        self.port = port if port is not None else free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,  # type: ignore[arg-type]
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            timeout_graceful_shutdown=2,
            lifespan="on",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=name, daemon=True)

    def start(self, timeout: float = 30.0) -> Self:
        """Start serving; raises :class:`ServiceStartError` when it is not up within ``timeout``."""
        self._thread.start()
        wait_until(lambda: self._server.started or not self._thread.is_alive(), timeout)
        if not self._server.started:
            raise ServiceStartError(f"{self._thread.name} did not start on port {self.port}")
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


__all__ = ["ThreadedAsgiServer"]
