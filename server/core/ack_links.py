"""Signed, single-use, expiring acknowledge links for chat and e-mail messages.

A link names one alert, the recipient it was sent to (the chat channel's name, or the e-mail
address) and when it expires, signed with HMAC-SHA256 under the server's ``ack_links``
secret; ``GET`` on it shows a confirmation page and ``POST`` acknowledges
(:mod:`server.api.routes.ack_links`), so a chat app's link preview acknowledges nothing. A
used link is recorded in SQL (``ack_link_uses``), so it stays used across restarts. See
docs/alerts.md ("Acknowledging from the chat").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.core.config import AckLinkConfig
from server.storage.models import AckLinkUse

ACK_PATH = "/ack/"


class LinkRefused(Exception):
    """The link does not acknowledge: ``reason`` is ``invalid``, ``expired`` or ``used``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class AckClaim:
    """What a valid link says: acknowledge ``alert_id`` as ``recipient`` until ``expires``."""

    alert_id: str
    recipient: str
    expires: datetime
    digest: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class AckLinks:
    """Makes and checks the links of one server (its secret, public address and link lifetime)."""

    def __init__(self, secret: bytes, base_url: str, ttl_s: float) -> None:
        self._secret = secret
        self.base_url = base_url.rstrip("/")
        self.ttl = timedelta(seconds=ttl_s)

    @classmethod
    def from_config(cls, cfg: AckLinkConfig) -> AckLinks | None:
        """The links of this configuration; None when it has no public base URL (no links)."""
        secret = cfg.resolved_secret()
        if secret is None or cfg.public_base_url is None:
            return None
        return cls(secret, cfg.public_base_url, cfg.ttl_s)

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())

    def token(self, alert_id: str, recipient: str, now: datetime) -> str:
        """The signed token for ``alert_id`` sent to ``recipient`` at ``now``."""
        expires = int((now + self.ttl).timestamp())
        payload = _b64(json.dumps([alert_id, recipient, expires], separators=(",", ":")).encode())
        return f"{payload}.{self._sign(payload)}"

    def url(self, alert_id: str, recipient: str, now: datetime) -> str:
        """The link people tap: ``<public base URL>/ack/<token>``."""
        return self.base_url + ACK_PATH + self.token(alert_id, recipient, now)

    def check(self, token: str, now: datetime) -> AckClaim:
        """What ``token`` says, if its signature holds and it has not expired (not whether it
        was used: :func:`use_link`); :class:`LinkRefused` otherwise."""
        payload, _, signature = token.partition(".")
        if not payload or not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            raise LinkRefused("invalid")
        try:
            alert_id, recipient, expires = json.loads(_unb64(payload))
            when = datetime.fromtimestamp(int(expires), UTC)
        except (ValueError, TypeError):
            raise LinkRefused("invalid") from None
        if not isinstance(alert_id, str) or not isinstance(recipient, str):
            raise LinkRefused("invalid")
        if now >= when:
            raise LinkRefused("expired")
        return AckClaim(alert_id, recipient, when, hashlib.sha256(token.encode()).hexdigest())


@lru_cache(maxsize=8)
def links_for(cfg: AckLinkConfig) -> AckLinks | None:
    """The server's links (made once per configuration: the secret file is read once)."""
    return AckLinks.from_config(cfg)


def link_used(session: Session, claim: AckClaim) -> bool:
    """Whether the link of ``claim`` has been used."""
    return session.get(AckLinkUse, claim.digest) is not None


def use_link(session: Session, claim: AckClaim, now: datetime) -> None:
    """Record the link of ``claim`` as used, once: :class:`LinkRefused` ("used") when it was
    (the primary key decides, so two servers on one database cannot both use it)."""
    session.add(
        AckLinkUse(digest=claim.digest, alert_id=claim.alert_id, recipient=claim.recipient, used_at=now)
    )
    try:
        session.flush()
    except IntegrityError:  # the session's transaction is rolled back by its owner
        raise LinkRefused("used") from None
