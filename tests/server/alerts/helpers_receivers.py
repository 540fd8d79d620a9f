"""Local receivers that record real requests: an HTTP server and a minimal SMTP server
(optionally offering STARTTLS with a given certificate)."""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lobbywatch.services import free_port


@dataclass
class Request:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    received: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    """Records every POST. ``fail[path] = n`` answers 503 n times; ``hang`` paths never answer."""

    server: ThreadingHTTPServer
    requests: list[Request] = field(default_factory=list)
    fail: dict[str, int] = field(default_factory=dict)
    hang: set[str] = field(default_factory=set)
    answer: dict[str, bytes] = field(default_factory=dict)
    release: threading.Event = field(default_factory=threading.Event)
    got: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def on(self, path: str) -> list[Request]:
        with self.got:
            return [r for r in self.requests if r.path == path]

    def wait_for(self, path: str, n: int = 1, timeout: float = 10.0) -> list[Request]:
        with self.got:
            ok = self.got.wait_for(lambda: len([r for r in self.requests if r.path == path]) >= n, timeout)
        assert ok, f"no {n} request(s) on {path} within {timeout}s; got {[r.path for r in self.requests]}"
        return self.on(path)


def start_http() -> HttpReceiver:
    import time

    holder: list[HttpReceiver] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            rec = holder[0]
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            parts = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            req = Request(parts.path, parse_qs(parts.query), headers, body, time.monotonic())
            with rec.got:
                rec.requests.append(req)
                rec.got.notify_all()
            if parts.path in rec.hang:
                rec.release.wait(30)
                return
            if rec.fail.get(parts.path, 0) > 0:
                rec.fail[parts.path] -= 1
                self.send_response(503)
                self.end_headers()
                return
            answer = rec.answer.get(parts.path, b'{"errcode": 0, "code": 0}')
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    server.daemon_threads = True
    rec = HttpReceiver(server)
    holder.append(rec)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return rec


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    data: bytes
    over_tls: bool = False


@dataclass
class SmtpReceiver:
    """A minimal SMTP server (EHLO, MAIL, RCPT, DATA, QUIT; STARTTLS when given ``tls``) on
    asyncio, recording mail, and the TLS handshakes that failed."""

    host: str
    port: int
    tls: ssl.SSLContext | None = None
    mails: list[Mail] = field(default_factory=list)
    tls_failures: list[str] = field(default_factory=list)
    got: threading.Condition = field(default_factory=threading.Condition)
    loop: asyncio.AbstractEventLoop | None = None

    def wait_for(self, n: int = 1, timeout: float = 10.0) -> list[Mail]:
        with self.got:
            assert self.got.wait_for(lambda: len(self.mails) >= n, timeout), "no mail arrived"
            return list(self.mails)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def say(line: str) -> None:
            writer.write(line.encode() + b"\r\n")
            await writer.drain()

        await say("220 test SMTP ready")
        sender, rcpts = "", list[str]()
        while True:
            raw = await reader.readline()
            if not raw:
                break
            cmd = raw.decode(errors="replace").strip()
            verb = cmd.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                if self.tls is not None and writer.get_extra_info("sslcontext") is None:
                    await say("250-test")
                    await say("250 STARTTLS")
                else:
                    await say("250 test")
            elif verb == "STARTTLS" and self.tls is not None:
                await say("220 go ahead")
                try:
                    await writer.start_tls(self.tls)
                except (ssl.SSLError, OSError) as exc:
                    with self.got:
                        self.tls_failures.append(str(exc))
                        self.got.notify_all()
                    break
            elif verb == "MAIL":
                sender, rcpts = cmd.split(":", 1)[1].strip().strip("<>"), []
                await say("250 OK")
            elif verb == "RCPT":
                rcpts.append(cmd.split(":", 1)[1].strip().strip("<>"))
                await say("250 OK")
            elif verb == "DATA":
                await say("354 end with .")
                lines: list[bytes] = []
                while True:
                    line = await reader.readline()
                    if line in (b".\r\n", b".\n", b""):
                        break
                    lines.append(line[1:] if line.startswith(b"..") else line)
                with self.got:
                    over_tls = writer.get_extra_info("sslcontext") is not None
                    self.mails.append(Mail(sender, rcpts, b"".join(lines), over_tls))
                    self.got.notify_all()
                await say("250 queued")
            elif verb == "QUIT":
                await say("221 bye")
                break
            else:
                await say("250 OK")
        writer.close()


def start_smtp(tls: ssl.SSLContext | None = None) -> tuple[SmtpReceiver, threading.Thread]:
    rec = SmtpReceiver("127.0.0.1", free_port(), tls)
    ready = threading.Event()

    def run() -> None:
        loop = asyncio.new_event_loop()
        rec.loop = loop
        server = loop.run_until_complete(asyncio.start_server(rec._session, rec.host, rec.port))
        ready.set()
        try:
            loop.run_forever()
        finally:
            server.close()
            loop.run_until_complete(server.wait_closed())
            loop.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert ready.wait(10)
    return rec, t
