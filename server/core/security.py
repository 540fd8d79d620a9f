"""Bearer tokens: random secrets handed out once, stored only as their SHA-256, with an
optional expiry; what each token is bound to (sites, a vendor, a counter: :class:`Principal`);
the short cache of verified tokens. See docs/server.md ("Roles", "Token expiry and
revocation")."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from lobbywatch.clock import Clock
from server.core.config import ROLES, Role
from server.storage.models import ApiToken

TOKEN_PREFIX = "lw_"


def new_token() -> str:
    """A fresh token: ``lw_`` and 43 URL-safe characters (256 bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: a role and what it is bound to (sites, a vendor, a counter)."""

    token_id: int
    name: str
    role: Role
    sites: frozenset[str] = field(default_factory=frozenset)
    vendor: str | None = None
    expires_at: datetime | None = None
    counter: str | None = None

    def can_see_site(self, site: str) -> bool:
        if self.role == "admin":
            return True
        if self.role in ("manager", "display", "gateway", "guide", "counter"):
            return site in self.sites
        return False

    def can_see_counter(self, site: str, counter: str) -> bool:
        """A counter token sees its own counter only; admin and the hall's managers every one."""
        if self.role == "counter":
            return site in self.sites and counter == self.counter
        return self.role in ("admin", "manager") and self.can_see_site(site)


def create_token(
    session: Session,
    *,
    name: str,
    role: Role,
    created_at: datetime,
    sites: list[str] | None = None,
    vendor: str | None = None,
    counter: str | None = None,
    token: str | None = None,
    token_hash: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str | None]:
    """Store a token; returns the row and the plain token (None when only a hash was given).
    ``expires_at`` (UTC-aware): from then on the token answers 401 "token expired"."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    if expires_at is not None and expires_at <= created_at:
        raise ValueError("a token must expire after it is created")
    plain = None
    if token_hash is None:
        plain = token or new_token()
        token_hash = hash_token(plain)
    row = ApiToken(
        name=name,
        token_hash=token_hash,
        role=role,
        sites=json.dumps(sorted(sites or [])),
        vendor=vendor,
        counter=counter,
        created_at=created_at,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return row, plain


class TokenRefused(Exception):
    """The token does not admit its bearer; the message says why (unknown, revoked, expired)."""


UNKNOWN_TOKEN = "unknown or revoked token"
EXPIRED_TOKEN = "token expired"


def principal_by_hash(session: Session, token_hash: str, now: datetime) -> Principal:
    """The principal of a live token; :class:`TokenRefused` for an unknown, revoked or expired one."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash))
    if row is None or row.revoked_at is not None:
        raise TokenRefused(UNKNOWN_TOKEN)
    principal = principal_of(row)
    check_expiry(principal, now)
    return principal


def revoke_token(session: Session, token_id: int, now: datetime) -> ApiToken | None:
    """Mark token ``token_id`` revoked (a second revocation keeps the first); None if unknown."""
    row = session.get(ApiToken, token_id) if -(2**31) < token_id < 2**31 else None
    if row is not None and row.revoked_at is None:
        row.revoked_at = now
    return row


def token_alive(session: Session, token_id: int, now: datetime) -> bool:
    """Whether token ``token_id`` is neither revoked nor expired at ``now``."""
    row = session.get(ApiToken, token_id)
    if row is None or row.revoked_at is not None:
        return False
    return row.expires_at is None or now < row.expires_at


def principal_of(row: ApiToken) -> Principal:
    role: Role = row.role  # type: ignore[assignment]
    sites = frozenset(json.loads(row.sites))
    return Principal(row.id, row.name, role, sites, row.vendor, row.expires_at, row.counter)


def check_expiry(principal: Principal, now: datetime) -> None:
    """:class:`TokenRefused` once the principal's token has expired."""
    if principal.expires_at is not None and now >= principal.expires_at:
        raise TokenRefused(EXPIRED_TOKEN)


_TTL = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_TTL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: The longest lifetime a token can be given (ten years).
MAX_TTL_S = 10 * 365 * 86400


def parse_ttl(text: str) -> timedelta:
    """``30d``, ``12h``, ``45m``, ``90s``, ``2w`` as a duration (ValueError otherwise)."""
    m = _TTL.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not a lifetime like 30d, 12h, 45m, 90s or 2w")
    seconds = int(m.group(1)) * _TTL_UNITS[m.group(2)]
    if not 0 < seconds <= MAX_TTL_S:
        raise ValueError(f"a token lifetime must be between 1 s and {MAX_TTL_S // 86400} days")
    return timedelta(seconds=seconds)


class PrincipalCache:
    """Tokens verified in the last ``ttl_s`` seconds, by SHA-256 (gateways call every second).

    Revoking a token through this server's API clears the cache at once; a token revoked by
    another server process on the same database stops working here within ``ttl_s``. An
    entry never outlives its token's expiry.
    """

    def __init__(self, clock: Clock, ttl_s: float = 5.0) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._monotonic = clock.monotonic
        self._entries: dict[str, tuple[Principal, float]] = {}

    def get(self, token_hash: str) -> Principal | None:
        entry = self._entries.get(token_hash)
        if entry is None or entry[1] <= self._monotonic():
            return None
        return entry[0]

    def put(self, token_hash: str, principal: Principal) -> None:
        if len(self._entries) > 10_000:  # bound the memory; the next calls refill it
            self._entries.clear()
        keep_s = self.ttl_s
        if principal.expires_at is not None:
            keep_s = min(keep_s, (principal.expires_at - self._clock.now()).total_seconds())
        self._entries[token_hash] = (principal, self._monotonic() + keep_s)

    def clear(self) -> None:
        self._entries.clear()
