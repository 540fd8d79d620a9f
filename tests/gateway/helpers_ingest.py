"""A small, real HTTP server speaking the ingest contract (lobbywatch/protocol/ingest.py).

It stands in for the central server in the gateway's tests and benchmark: it checks the
token, reads gzip or plain JSON batches, dedups by message id and by (site, source, epoch,
seq), records what it stored in arrival order, and can be told to misbehave:

* ``refuse`` — stop listening (connections are refused);
* ``error``  — answer 500 and store nothing;
* ``hang``   — hold the request without answering (until the mode changes or ``hang_s``);
* ``no_gzip`` — answer 415 (a proxy refusing the gzip encoding) and store nothing;
* ``ok``     — behave.

Besides, ``reject_ids`` are answered ``rejected`` one by one (a message the server reads but
finds invalid), and a batch holding any of ``unreadable_ids`` is answered 400 as a whole (a
message the server cannot even parse), storing nothing of it.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

from lobbywatch.protocol.codec import ProtocolError, decode_obj
from lobbywatch.protocol.ingest import INGEST_PATH, Backlog, IngestBatch
from lobbywatch.services import free_port

Mode = Literal["ok", "refuse", "error", "hang", "no_gzip"]


@dataclass
class ReceiverState:
    stored: list[dict[str, Any]] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    keys: set[tuple[str, str, int, int]] = field(default_factory=set)
    duplicates: int = 0
    rejected: int = 0
    requests: int = 0
    batches: int = 0
    backlogs: list[Backlog] = field(default_factory=list)
    batch_sizes: list[int] = field(default_factory=list)
    failed_requests: int = 0
    unreadable_batches: int = 0  # answered 400 for holding an unreadable_ids message
    first_stored_at: float | None = None  # time.monotonic() of the first message stored
    last_stored_at: float | None = None


class _QuietServer(ThreadingHTTPServer):
    """A client that disappears mid-request (a killed gateway) is normal here: no traceback."""

    allow_reuse_address = True
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class IngestReceiver:
    """The test ingest server. Use as a context manager; ``url`` is its base URL."""

    def __init__(
        self,
        token: str = "test-gateway-token",
        *,
        validate: bool = True,
        hang_s: float = 30.0,
        keep_backlogs: bool = True,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.token = token
        self.validate = validate
        self.hang_s = hang_s
        self.keep_backlogs = keep_backlogs
        self.tls = tls  # (certificate, key): serve https
        self.host = "127.0.0.1"
        self.port = free_port()
        self.state = ReceiverState()
        self.lock = threading.Lock()
        self.mode: Mode = "ok"
        #: Message ids to answer ``rejected`` (as the server does for a message it finds invalid).
        self.reject_ids: set[str] = set()
        #: Message ids that make their whole batch unreadable (answered 400, nothing stored).
        self.unreadable_ids: set[str] = set()
        #: When set, batches of more messages than this hang (a server too slow for big batches).
        self.hang_above: int | None = None
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._conns: set[socket.socket] = set()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    # ------------------------------------------------------------------ control

    def start(self) -> IngestReceiver:
        self._listen()
        return self

    def _listen(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with outer.lock:
                    outer._conns.add(self.connection)

            def finish(self) -> None:
                with outer.lock:
                    outer._conns.discard(self.connection)
                super().finish()

            def do_POST(self) -> None:
                outer._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = _QuietServer((self.host, self.port), Handler)
        if self.tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(self.tls[0]), str(self.tls[1]))
            server.socket = ctx.wrap_socket(server.socket, server_side=True)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()

    def _unlisten(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self.lock:  # kept-alive connections too: the server is gone
            conns, self._conns = list(self._conns), set()
        for sock in conns:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def set_mode(self, mode: Mode) -> None:
        """Switch behaviour; ``refuse`` closes the listening socket, leaving it re-opens it."""
        if mode == self.mode:
            return
        if self.mode == "hang":
            self._release.set()
        if mode == "refuse":
            self._unlisten()
        elif self.mode == "refuse":
            self._listen()
        if mode == "hang":
            self._release.clear()
        self.mode = mode

    def stop(self) -> None:
        self._release.set()
        self._unlisten()

    def __enter__(self) -> IngestReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ reading results

    def stored_count(self) -> int:
        with self.lock:
            return len(self.state.stored)

    def stored(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.state.stored)

    # ------------------------------------------------------------------ the endpoint

    def _reply(self, h: BaseHTTPRequestHandler, code: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        try:
            h.send_response(code)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
        except OSError:  # the gateway went away (killed, or gave up waiting)
            h.close_connection = True

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length)
        with self.lock:
            self.state.requests += 1
        mode = self.mode
        if mode == "hang":
            self._release.wait(self.hang_s)
            with self.lock:
                self.state.failed_requests += 1
            h.close_connection = True
            return
        if mode == "error":
            with self.lock:
                self.state.failed_requests += 1
            self._reply(h, 500, {"message": "test receiver told to fail"})
            return
        if mode == "no_gzip":
            with self.lock:
                self.state.failed_requests += 1
            self._reply(h, 415, {"message": "unsupported Content-Encoding 'gzip'"})
            return
        if h.path != INGEST_PATH:
            self._reply(h, 404, {"message": f"no such path {h.path}"})
            return
        if h.headers.get("Authorization") != f"Bearer {self.token}":
            self._reply(h, 401, {"message": "bad gateway token"})
            return
        if h.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        try:
            batch = IngestBatch.model_validate_json(raw)
        except ValueError as exc:
            self._reply(h, 422, {"message": str(exc)})
            return
        if self.hang_above is not None and len(batch.messages) > self.hang_above:
            self._release.wait(self.hang_s)
            with self.lock:
                self.state.failed_requests += 1
            h.close_connection = True
            return
        bad = sorted(self.unreadable_ids.intersection(str(m.get("id")) for m in batch.messages))
        if bad:
            with self.lock:
                self.state.unreadable_batches += 1
            self._reply(h, 400, {"message": f"body is not JSON: message {bad[0]} is unreadable"})
            return
        results: list[dict[str, Any]] = []
        counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
        with self.lock:
            self.state.batches += 1
            self.state.batch_sizes.append(len(batch.messages))
            if self.keep_backlogs:
                self.state.backlogs.append(batch.backlog)
            for m in batch.messages:
                mid = m.get("id")
                reason = "rejected by the test receiver" if mid in self.reject_ids else None
                if reason is None and self.validate:
                    try:
                        decode_obj(m)
                    except ProtocolError as exc:
                        reason = str(exc)
                if reason is not None:
                    results.append({"status": "rejected", "id": mid, "reason": reason})
                    counts["rejected"] += 1
                    self.state.rejected += 1
                    continue
                key = (
                    str(m.get("site")),
                    str(m.get("source")),
                    int(m.get("epoch", 0)),
                    int(m.get("seq", -1)),
                )
                if mid in self.state.ids or key in self.state.keys:
                    results.append({"status": "duplicate", "id": mid})
                    counts["duplicate"] += 1
                    self.state.duplicates += 1
                    continue
                self.state.ids.add(str(mid))
                self.state.keys.add(key)
                self.state.stored.append(m)
                self.state.last_stored_at = time.monotonic()
                if self.state.first_stored_at is None:
                    self.state.first_stored_at = self.state.last_stored_at
                results.append({"status": "accepted", "id": mid})
                counts["accepted"] += 1
        self._reply(
            h,
            200,
            {
                "results": results,
                "accepted": counts["accepted"],
                "duplicates": counts["duplicate"],
                "rejected": counts["rejected"],
            },
        )
