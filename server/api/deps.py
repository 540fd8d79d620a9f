"""Annotated dependencies: the server context, its alert service, a SQL session, the calling
principal and its role, the site scope check (out of scope answers 404 like missing), and the
token check of long-lived streams. See docs/server.md ("Roles")."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from server.alerts_api import AlertsApi
from server.context import ServerContext
from server.core.config import Role
from server.core.security import Principal, TokenRefused, hash_token, principal_by_hash, token_alive
from server.storage.models import Site

bearer = HTTPBearer(auto_error=False, description="A LobbyWatch token: `Authorization: Bearer lw_...`.")


# Dependencies that do no I/O are ``async def``: FastAPI runs a plain ``def`` dependency in
# the thread pool, a hand-off that cost more than the check itself on every request.


async def get_ctx(request: Request) -> ServerContext:
    ctx: ServerContext = request.app.state.ctx
    return ctx


CtxDep = Annotated[ServerContext, Depends(get_ctx)]


async def get_alerts(ctx: CtxDep) -> AlertsApi:
    """The context's alerts: its running alert service, or an API replica's view of the
    workers' (:meth:`ServerContext.alerts_api`); 503 when there is neither."""
    alerts = ctx.alerts_api()
    if alerts is None:
        raise HTTPException(503, "the alert engine is not running")
    return alerts


AlertsDep = Annotated[AlertsApi, Depends(get_alerts)]


def get_session(ctx: CtxDep) -> Iterator[Session]:
    with ctx.db.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


async def get_principal(
    ctx: CtxDep, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    """The token's principal: from :class:`PrincipalCache`, else looked up in SQL (in a thread).
    401 for a missing, unknown, revoked or expired token."""
    if creds is None or not creds.credentials:
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    digest = hash_token(creds.credentials)
    principal = ctx.principals.get(digest)
    if principal is None:
        try:
            principal = await run_in_threadpool(lookup_principal, ctx, digest)
        except TokenRefused as exc:
            raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
        ctx.principals.put(digest, principal)
    return principal


def lookup_principal(ctx: ServerContext, token_hash: str) -> Principal:
    """The principal of a live token, from SQL (:class:`TokenRefused` otherwise); blocking."""
    with ctx.db.session() as session:
        return principal_by_hash(session, token_hash, ctx.clock.now())


def token_check(ctx: ServerContext, principal: Principal) -> Callable[[], Awaitable[bool]]:
    """For a long-lived response (a live stream): "is the principal's token still live?",
    asked of SQL each time (not of the cache), so that a revocation by any server process or
    the CLI, or an expiry, ends the stream (:func:`server.api.sse.snapshot_stream`)."""

    def alive() -> bool:
        with ctx.db.session() as session:
            return token_alive(session, principal.token_id, ctx.clock.now())

    async def check() -> bool:
        return await run_in_threadpool(alive)

    return check


async def get_stream_principal(
    ctx: CtxDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    access_token: Annotated[
        str | None,
        Query(
            max_length=200,
            description="The token, for EventSource clients that cannot send headers (prefer the header).",
        ),
    ] = None,
) -> Principal:
    """Like :func:`get_principal`, also accepting ``?access_token=`` (browsers' EventSource)."""
    if (creds is None or not creds.credentials) and access_token:
        creds = HTTPAuthorizationCredentials(scheme="Bearer", credentials=access_token)
    return await get_principal(ctx, creds)


def require(*roles: Role) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency admitting only ``roles`` (403 for any other valid token)."""

    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.role not in roles:
            raise HTTPException(
                403, f"role {principal.role} may not use this endpoint; allowed: {', '.join(roles)}"
            )
        return principal

    return check


def check_site(ctx: ServerContext, principal: Principal, site: str) -> None:
    """404 when the site is unknown or the principal may not see it: the same answer, so a
    token cannot probe which halls exist (a role that may not use the endpoint at all gets
    403 from :func:`require`)."""
    if principal.role != "admin" and not principal.can_see_site(site):
        raise unknown_site(site)
    if site not in ctx.registry.configs and not any(s == site for s, _ in ctx.registry.devices):
        with ctx.db.session() as session:
            site_row(session, site)


def site_row(session: Session, site: str) -> Site:
    """The stored site, or 404 naming it."""
    row = session.get(Site, site)
    if row is None:
        raise unknown_site(site)
    return row


def unknown_site(site: str) -> HTTPException:
    """The one answer for a site that is missing or out of the token's scope."""
    return HTTPException(404, f"unknown site {site!r}")


AdminDep = Annotated[Principal, Depends(require("admin"))]
GatewayDep = Annotated[Principal, Depends(require("gateway"))]
FloorDep = Annotated[Principal, Depends(require("admin", "manager", "display"))]


async def _floor_stream(principal: Annotated[Principal, Depends(get_stream_principal)]) -> Principal:
    if principal.role not in ("admin", "manager", "display"):
        raise HTTPException(
            403, f"role {principal.role} may not use this endpoint; allowed: admin, manager, display"
        )
    return principal


FloorStreamDep = Annotated[Principal, Depends(_floor_stream)]
ManagerDep = Annotated[Principal, Depends(require("admin", "manager"))]
DeviceReaderDep = Annotated[Principal, Depends(require("admin", "manager", "vendor"))]
