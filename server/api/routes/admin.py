"""Administration: tokens, and the server's own status."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from fastapi import APIRouter, HTTPException
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select

from lobbywatch.protocol.fields import Identifier
from server.api.deps import AdminDep, CtxDep, SessionDep
from server.api.errors import ERROR_RESPONSES
from server.core.config import Role, check_role_binding
from server.core.security import MAX_TTL_S, create_token, revoke_token
from server.storage.models import ApiToken

router = APIRouter(tags=["admin"])


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=120, description="Who or what holds it.")
    role: Role
    sites: list[Identifier] = Field(default_factory=list, max_length=1000)
    vendor: Identifier | None = None
    counter: Identifier | None = Field(default=None, description="The counter (counter role only).")
    ttl_s: int | None = Field(
        default=None,
        ge=1,
        le=MAX_TTL_S,
        description="Lifetime in seconds from creation; none: never expires.",
    )
    expires_at: AwareDatetime | None = Field(
        default=None, description="When it expires (ISO 8601 with offset); instead of `ttl_s`."
    )

    @model_validator(mode="after")
    def _binding(self) -> TokenIn:
        check_role_binding(self.role, self.sites, self.vendor, self.counter)
        if self.ttl_s is not None and self.expires_at is not None:
            raise ValueError("give ttl_s or expires_at, not both")
        return self

    def expiry(self, now: datetime) -> datetime | None:
        """When a token created ``now`` from this request expires (None: never); 422 if past."""
        if self.ttl_s is not None:
            return now + timedelta(seconds=self.ttl_s)
        if self.expires_at is not None and self.expires_at <= now:
            raise HTTPException(422, "expires_at must be in the future")
        return self.expires_at


class TokenOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: int
    name: str
    role: str
    sites: list[str]
    vendor: str | None
    counter: str | None = None
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None = Field(description="When it stops working; null: never.")
    token: str | None = Field(default=None, description="The token itself: shown once, at creation.")


def _out(row: ApiToken, token: str | None = None) -> TokenOut:
    return TokenOut(
        id=row.id,
        name=row.name,
        role=row.role,
        sites=json.loads(row.sites),
        vendor=row.vendor,
        counter=row.counter,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        expires_at=row.expires_at,
        token=token,
    )


@router.post(
    "/api/v1/admin/tokens",
    response_model=TokenOut,
    status_code=201,
    description=(
        "**Role: admin.** Create a token, optionally expiring (`ttl_s` or `expires_at`); the "
        "answer holds it once (only its SHA-256 is stored). An expired token answers 401 "
        "`token expired`."
    ),
    responses=ERROR_RESPONSES,
)
def create(body: TokenIn, _p: AdminDep, ctx: CtxDep, session: SessionDep) -> TokenOut:
    now = ctx.clock.now()
    row, plain = create_token(
        session,
        name=body.name,
        role=body.role,
        created_at=now,
        sites=body.sites,
        vendor=body.vendor,
        counter=body.counter,
        expires_at=body.expiry(now),
    )
    return _out(row, plain)


@router.get(
    "/api/v1/admin/tokens",
    response_model=list[TokenOut],
    description="**Role: admin.** All tokens.",
    responses=ERROR_RESPONSES,
)
def list_tokens(_p: AdminDep, session: SessionDep) -> list[TokenOut]:
    return [_out(r) for r in session.scalars(select(ApiToken).order_by(ApiToken.id))]


@router.delete(
    "/api/v1/admin/tokens/{token_id}",
    response_model=TokenOut,
    description=(
        "**Role: admin.** Revoke a token: it answers 401 at once; its open live streams end within 15 s."
    ),
    responses=ERROR_RESPONSES,
)
def revoke(token_id: int, _p: AdminDep, ctx: CtxDep) -> TokenOut:
    with ctx.db.session() as session:
        row = revoke_token(session, token_id, ctx.clock.now())
        if row is None:
            raise HTTPException(404, f"no token {token_id}")
        out = _out(row)
    ctx.principals.clear()  # after the commit: no cached use of the token from here on
    return out


class StatusOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ingest: dict[str, int]
    influx: dict[str, int | str | None]
    bus_errors: int
    sequence_gaps: int
    sequence_missing: int


@router.get(
    "/api/v1/admin/status",
    response_model=StatusOut,
    description="**Role: admin.** Counters.",
    responses=ERROR_RESPONSES,
)
def status(_p: AdminDep, ctx: CtxDep) -> StatusOut:
    c = ctx.pipeline.counters
    w = ctx.writer.stats
    return StatusOut(
        ingest={
            "batches": c.batches,
            "accepted": c.accepted,
            "duplicates": c.duplicates,
            "rejected": c.rejected,
            "memory_conflicts": c.memory_conflicts,
            "prepare_workers": ctx.prepare.n,
            "prepare_worker_restarts": ctx.prepare.restarts,
        },
        influx=dict(w.__dict__),
        bus_errors=ctx.bus.errors,
        sequence_gaps=sum(s.gaps for s in ctx.deriving.streams.values()),
        sequence_missing=sum(s.missing for s in ctx.deriving.streams.values()),
    )


@router.get("/healthz", description="**Role: none** (no token). Liveness probe.", tags=["health"])
def healthz() -> dict[str, str]:
    return {"status": "ok"}
