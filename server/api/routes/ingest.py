"""POST /api/v1/ingest: batches from hall gateways (lobbywatch/protocol/ingest.py)."""

from __future__ import annotations

import zlib

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool

from lobbywatch.protocol.ingest import INGEST_PATH, IngestResult
from server.api.deps import CtxDep, GatewayDep
from server.api.errors import ERROR_RESPONSES, ErrorBody
from server.ingest_outcome import Conflict, Overloaded
from server.ingest_prepare import BadBatch
from server.ingest_workers import WorkersUnavailable

router = APIRouter(tags=["ingest"])


def _gunzip(body: bytes, limit: int) -> bytes:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(body, limit + 1)
    except zlib.error as exc:
        raise HTTPException(400, f"body is not valid gzip: {exc}") from None
    if len(out) > limit or d.unconsumed_tail:
        raise HTTPException(413, f"decompressed body is larger than the {limit}-byte limit")
    return out


@router.post(
    INGEST_PATH,
    response_model=IngestResult,
    summary="Submit a batch of messages from a hall gateway",
    description=(
        "**Role: gateway**, bound to one site; a batch for another site gets 403. JSON body "
        "(`IngestBatch`), optionally `Content-Encoding: gzip`. Answers one result per message, "
        "in order: accepted, duplicate (same id, or same source/epoch/seq) or rejected with a "
        "reason. Any non-200 answer means nothing was stored: resend unchanged. 503 with "
        "`Retry-After` when the server is applying back-pressure."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/IngestBatch"}}},
        }
    },
    responses={**ERROR_RESPONSES, 400: {"model": ErrorBody}, 503: {"model": ErrorBody}},
)
async def ingest(request: Request, principal: GatewayDep, ctx: CtxDep) -> Response:
    limit = ctx.settings.ingest.max_body_bytes
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > limit:
            raise HTTPException(413, f"request body is larger than the {limit}-byte limit")
    body = bytes(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding == "gzip":
        body = _gunzip(body, limit)
    elif encoding not in ("", "identity"):
        raise HTTPException(415, f"unsupported Content-Encoding {encoding!r}; use gzip or none")
    try:
        prepared = await ctx.prepare.prepare(body, ctx.clock.now())
    except BadBatch as exc:
        raise HTTPException(exc.status, exc.detail) from None
    except WorkersUnavailable as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": "1"}) from None
    site = prepared.header.site
    if site not in principal.sites:
        bound = ", ".join(sorted(principal.sites))
        raise HTTPException(403, f"this gateway token is for site {bound}, not {site!r}")
    try:
        outcome = await run_in_threadpool(ctx.pipeline.process, ctx.db, prepared)
    except (Overloaded, Conflict) as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": "5"}) from None
    return Response(outcome.json(), media_type="application/json")
