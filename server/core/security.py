"""Bearer tokens: random secrets handed out once, stored only as their SHA-256."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime

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
    """Who is calling: a role and what it is bound to."""

    token_id: int
    name: str
    role: Role
    sites: frozenset[str] = field(default_factory=frozenset)
    vendor: str | None = None

    def can_see_site(self, site: str) -> bool:
        if self.role == "admin":
            return True
        if self.role in ("manager", "display", "gateway"):
            return site in self.sites
        return False


def create_token(
    session: Session,
    *,
    name: str,
    role: Role,
    created_at: datetime,
    sites: list[str] | None = None,
    vendor: str | None = None,
    token: str | None = None,
    token_hash: str | None = None,
) -> tuple[ApiToken, str | None]:
    """Store a token; returns the row and the plain token (None when only a hash was given)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
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
        created_at=created_at,
    )
    session.add(row)
    session.flush()
    return row, plain


def principal_by_hash(session: Session, token_hash: str) -> Principal | None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash))
    if row is None or row.revoked_at is not None:
        return None
    return principal_of(row)


def principal_of(row: ApiToken) -> Principal:
    role: Role = row.role  # type: ignore[assignment]
    return Principal(row.id, row.name, role, frozenset(json.loads(row.sites)), row.vendor)


class PrincipalCache:
    """Tokens verified in the last ``ttl_s`` seconds, by SHA-256 (gateways call every second).

    Revoking a token through this server's API clears the cache at once; a token revoked by
    another server process on the same database stops working here within ``ttl_s``.
    """

    def __init__(self, clock: Clock, ttl_s: float = 5.0) -> None:
        self.ttl_s = ttl_s
        self._monotonic = clock.monotonic
        self._entries: dict[str, tuple[Principal, float]] = {}

    def get(self, token_hash: str) -> Principal | None:
        entry = self._entries.get(token_hash)
        if entry is None or entry[1] < self._monotonic():
            return None
        return entry[0]

    def put(self, token_hash: str, principal: Principal) -> None:
        if len(self._entries) > 10_000:  # bound the memory; the next calls refill it
            self._entries.clear()
        self._entries[token_hash] = (principal, self._monotonic() + self.ttl_s)

    def clear(self) -> None:
        self._entries.clear()
