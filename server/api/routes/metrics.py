"""``GET /metrics``: the server's Prometheus text, without a token (docs/server.md, "Metrics").

Kept out of the OpenAPI schema: it is for Prometheus, not for API clients. Who can reach it
is decided by the address the server listens on (``lobbywatch server run --host``), as for
the gateway's health endpoint.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from server.api.deps import CtxDep

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
async def metrics(ctx: CtxDep) -> Response:
    body = await run_in_threadpool(generate_latest, ctx.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
