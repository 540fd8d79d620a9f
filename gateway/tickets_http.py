"""The gateway's queue-ticket endpoint: ``POST /api/v1/tickets`` from the hall's ticket system.

A ticket event posted here takes the same path as one published on MQTT: it is judged by
:func:`gateway.classify.classify` as if it had arrived on its own topic
(``lobbywatch/v1/{site}/ticket/{source}/event``), stored in the outbox (or quarantined there,
counted) in one durable transaction, and only then answered. Answers: ``202`` stored (or
already stored: same message id), ``400`` invalid with the located errors (quarantined),
``401`` wrong or missing bearer token, ``413`` over the payload limit (quarantined), ``404``
any other path. The vendor's guide is ``docs/protocol.md``, "Queue tickets".
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from gateway.classify import Ignored, classify
from gateway.local_http import LocalHttpServer
from gateway.outbox import GatewayOutbox, NewMessage, Quarantined
from gateway.stats import Stats
from lobbywatch.clock import Clock
from lobbywatch.config.tickets import TicketIntakeConfig
from lobbywatch.protocol.codec import MAX_PAYLOAD_BYTES, ProtocolError, decode
from lobbywatch.protocol.fields import ID_PATTERN
from lobbywatch.protocol.topics import ticket_event_topic

log = logging.getLogger("lobbywatch.gateway.tickets")

TICKETS_PATH = "/api/v1/tickets"
UNKNOWN_SOURCE = "unknown"


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: dict[str, Any]


def _topic(site: str, payload: bytes) -> str:
    """The topic the payload claims by its ``source`` (``unknown`` when it names none)."""
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):
        data = None
    source = data.get("source") if isinstance(data, dict) else None
    if not isinstance(source, str) or re.fullmatch(ID_PATTERN, source) is None:
        source = UNKNOWN_SOURCE
    return ticket_event_topic(site, source)


def ticket_token_of(cfg: TicketIntakeConfig) -> str | None:
    """The ticket endpoint's token (``None`` while it is off); ``ValueError`` saying why it
    cannot be read (zh-CN and en)."""
    if not cfg.port or cfg.token_file is None:
        return None
    path = cfg.token_file
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise ValueError(
            f"无法读取取号系统令牌文件 {path}：{exc.strerror} / "
            f"Cannot read the ticket token file {path}: {exc.strerror}"
        ) from None
    if not token:
        raise ValueError(f"取号系统令牌文件 {path} 为空 / The ticket token file {path} is empty")
    return token


class TicketIntake:
    """Judges and stores one posted ticket event at a time (the outbox serialises writers)."""

    def __init__(
        self,
        site: str,
        outbox: GatewayOutbox,
        stats: Stats,
        clock: Clock,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self.site, self.outbox, self.stats, self.clock = site, outbox, stats, clock
        self._on_commit = on_commit

    def accept(self, payload: bytes) -> Answer:
        """Store ``payload`` as a ticket event, or quarantine it; the answer for the poster."""
        now = self.clock.now().timestamp()
        topic = _topic(self.site, payload)
        verdict = classify(self.site, topic, payload, now)
        if isinstance(verdict, Ignored):
            verdict = Quarantined(now, topic, "not_json", "empty payload", payload)
        self.stats.add("received")
        if isinstance(verdict, NewMessage):
            result = self.outbox.store([verdict])
            self.stats.add("stored", result.stored)
            self.stats.add("local_duplicates", result.duplicates)
            if self._on_commit is not None:
                self._on_commit()
            status = "stored" if result.stored else "duplicate"
            return Answer(202, {"status": status, "id": verdict.msg_id})
        self.outbox.store([], [verdict])
        self.stats.add("quarantined_here")
        log.warning("ticket event quarantined (%s): %s", verdict.reason, verdict.detail)
        errors = [{"field": "", "message": verdict.detail}]
        try:
            decode(payload, topic)
        except ProtocolError as exc:
            errors = [{"field": e.field, "message": e.message} for e in exc.errors]
        code = 413 if verdict.reason == "oversized" else 400
        return Answer(code, {"status": "quarantined", "reason": verdict.reason, "errors": errors})


class TicketServer(LocalHttpServer):
    """Serves :data:`TICKETS_PATH` on ``host:port`` from a daemon thread, bearer ``token`` only."""

    def __init__(self, host: str, port: int, token: str, intake: TicketIntake) -> None:
        expected = f"Bearer {token}".encode()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path != TICKETS_PATH:
                    self._answer(Answer(404, {"status": "not_found", "path": TICKETS_PATH}))
                    return
                given = (self.headers.get("Authorization") or "").encode()
                if not hmac.compare_digest(given, expected):
                    self._answer(Answer(401, {"status": "unauthorized"}))
                    return
                try:
                    length = int(self.headers.get("Content-Length") or "0")
                except ValueError:
                    length = -1
                if length < 0:
                    self._answer(Answer(411, {"status": "length_required"}))
                    return
                # Read one byte past the limit: enough to be judged oversized, never more.
                payload = self.rfile.read(min(length, MAX_PAYLOAD_BYTES + 1))
                if length > len(payload):
                    self.close_connection = True
                self._answer(intake.accept(payload))

            def _answer(self, answer: Answer) -> None:
                body = json.dumps(answer.body, ensure_ascii=False).encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(host, port, Handler, "gw-tickets")
